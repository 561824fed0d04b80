"""Secrets Manager: the secret's metadata and its *shape*, never its values."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from runbook.aws.collected import collected, not_found
from runbook.redact import shape_of


class SecretsCollector:
    session: Any
    _cache: dict[str, Any]

    @property
    def _sm(self) -> Any:
        return self.session.client("secretsmanager")

    @collected("secretsmanager")
    def secret(self, name: str) -> dict[str, Any] | None:
        try:
            got = self._sm.describe_secret(SecretId=name)
        except ClientError as exc:
            if not_found(exc, "ResourceNotFoundException"):
                return None
            raise
        return {k: got.get(k) for k in ("ARN", "Name", "Tags", "DeletedDate") if got.get(k)}

    @collected("secretsmanager")
    def secret_shape(self, name: str) -> dict[str, Any] | None:
        try:
            got = self._sm.get_secret_value(SecretId=name)
        except ClientError as exc:
            if not_found(exc, "ResourceNotFoundException"):
                return None
            raise
        return shape_of(got.get("SecretString"))
