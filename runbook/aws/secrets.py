"""Secrets Manager: the secret's metadata and its *shape*, never its values."""

from __future__ import annotations

import json
from typing import Any

from runbook.aws.collected import collected
from runbook.redact import shape_of


class SecretsCollector:
    session: Any
    _cache: dict[str, Any]

    @property
    def _sm(self) -> Any:
        return self.session.client("secretsmanager")

    @collected("secretsmanager", absent=("ResourceNotFoundException",), reads=("DescribeSecret",))
    def secret(self, name: str) -> dict[str, Any] | None:
        got = self._sm.describe_secret(SecretId=name)
        return {k: got.get(k) for k in ("ARN", "Name", "Tags", "DeletedDate") if got.get(k)}

    @collected(
        "secretsmanager", absent=("ResourceNotFoundException",), reads=("GetResourcePolicy",)
    )
    def secret_resource_policy(self, name: str) -> dict[str, Any] | None:
        """The secret's own resource policy ({} when it has none)."""
        got = self._sm.get_resource_policy(SecretId=name)
        return json.loads(got["ResourcePolicy"]) if got.get("ResourcePolicy") else {}

    @collected("secretsmanager", absent=("ResourceNotFoundException",), reads=("GetSecretValue",))
    def secret_shape(self, name: str) -> dict[str, Any] | None:
        got = self._sm.get_secret_value(SecretId=name)
        return shape_of(got.get("SecretString"))
