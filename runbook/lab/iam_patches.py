"""Lab-only patches that make moto's IAM enforcement judge requests as AWS does.

moto enforces IAM in server mode (``POST /moto-api/reset-auth``), which is how the tests
prove the checker's generated policy is enough and that a missing permission ends in
*could not check*. Four gaps would make that proof wrong; each patch says what AWS does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any


def patch_signature_of_bodyless_requests() -> None:
    """Check a GET's signature as the SDK signed it: with an empty payload.

    moto's ``IAMRequestBase._create_aws_request`` (moto/iam/access_control.py) rebuilds the
    request with ``data=body or data``; for a REST GET (Lambda's GetFunction) ``data`` is the
    query or even the request's headers, so the payload hash differs and signatures AWS
    accepts are refused with SignatureDoesNotMatch. (A form POST's body is consumed by then:
    its parsed ``data`` is right for it.)
    """
    from botocore.awsrequest import AWSRequest
    from moto.iam.access_control import IAMRequestBase

    from runbook.lab.server import wrap_once

    def make(original: Callable[..., Any]) -> Callable[..., AWSRequest]:
        def _create_aws_request(self: Any) -> AWSRequest:
            request = original(self)
            if self._method in ("GET", "HEAD"):  # no payload: the SDK signed an empty one
                request.data = b""
            return request

        return _create_aws_request

    wrap_once(IAMRequestBase, "_create_aws_request", make)


def _glob(pattern: str, value: str) -> re.Match[str] | None:
    """IAM's wildcards: ``*`` any run of characters, ``?`` exactly one; nothing else special."""
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value)


def patch_policy_wildcards() -> None:
    """Match Action and Resource with IAM's wildcards.

    moto's ``IAMPolicyStatement._match`` turns only ``*`` into a regex and leaves ``?`` and
    ``.`` as regex syntax, so ``secret:name-??????`` (the form AWS documents for one secret)
    matches nothing.
    """
    from moto.iam.access_control import IAMPolicyStatement

    IAMPolicyStatement._match = staticmethod(_glob)  # type: ignore[method-assign]


def patch_resource_of_scoped_calls() -> None:
    """Authorise GetSecretValue against the secret's ARN and Start/StopInstances against the
    instance's, as AWS does; moto authorises every such call against ``*``, so a policy
    scoped to one secret or to instances would be refused."""
    from moto.ec2.responses import EC2Response
    from moto.secretsmanager.models import secretsmanager_backends
    from moto.secretsmanager.responses import SecretsManagerResponse

    def secret_resource(self: Any) -> str:
        try:
            secret_id = json.loads(self.body or "{}").get("SecretId", "")
            backend = secretsmanager_backends[self.current_account][self.region]
            return backend.describe_secret(secret_id).arn if secret_id else "*"
        except Exception:  # an unknown secret: AWS judges the name's ARN, never '*'
            return f"arn:aws:secretsmanager:{self.region}:{self.current_account}:secret:?"

    def instance_resource(self: Any) -> str:
        if self._get_action() in ("StartInstances", "StopInstances"):
            ids = [v for k, v in self.querystring.items() if k.startswith("InstanceId.")]
            if len(ids) == 1:
                return f"arn:aws:ec2:{self.region}:{self.current_account}:instance/{ids[0][0]}"
        return "*"

    SecretsManagerResponse._determine_resource = secret_resource  # type: ignore[attr-defined]
    EC2Response._determine_resource = instance_resource  # type: ignore[attr-defined]


# Services whose requests are signed under another name than their IAM actions' prefix.
IAM_PREFIX_OF_SIGNING_NAME = {"monitoring": "cloudwatch"}


def patch_action_prefix() -> None:
    """Name the action with its IAM prefix: CloudWatch's requests are signed as
    ``monitoring``, its actions are ``cloudwatch:GetMetricData``; moto takes the
    signing name, so the policy AWS needs would be refused."""
    from moto.iam.access_control import IAMRequestBase

    from runbook.lab.server import wrap_once

    def make(original: Callable[..., Any]) -> Callable[..., None]:
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            service, _, operation = self._action.partition(":")
            if service in IAM_PREFIX_OF_SIGNING_NAME:
                self._action = f"{IAM_PREFIX_OF_SIGNING_NAME[service]}:{operation}"

        return __init__

    wrap_once(IAMRequestBase, "__init__", make)


def apply_iam_patches() -> None:
    from runbook.lab.iam_simulation import patch_simulate_principal_policy

    patch_simulate_principal_policy()
    patch_action_prefix()
    patch_signature_of_bodyless_requests()
    patch_policy_wildcards()
    patch_resource_of_scoped_calls()
