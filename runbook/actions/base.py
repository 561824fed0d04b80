"""What perform can do: Actions that describe themselves in words and apply idempotently.

A fixer is registered for a check id. It reads the inventory (never decides by itself what
is wrong: it is only called when its check failed) and returns the actions that would make
the check pass, in order. Each action's ``says`` is what the plan shows and the report keeps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runbook.aws.inventory import Inventory
from runbook.aws.session import AwsSession
from runbook.profile import Profile

MANAGED_BY = {"Key": "ManagedBy", "Value": "notifier-runbook"}


@dataclass
class Ctx:
    """What an action needs to apply: the writable session, the (fresh) inventory, the profile."""

    session: AwsSession
    inv: Inventory
    p: Profile

    def client(self, service: str) -> Any:
        return self.session.client(service)

    def ec2_tags(self, resource_type: str, name: str | None = None) -> list[dict[str, Any]]:
        tags = [MANAGED_BY] + ([{"Key": "Name", "Value": name}] if name else [])
        return [{"ResourceType": resource_type, "Tags": tags}]

    @staticmethod
    def tag_list(name: str | None = None) -> list[dict[str, str]]:
        return [MANAGED_BY] + ([{"Key": "Name", "Value": name}] if name else [])


@dataclass(frozen=True)
class Action:
    """A change perform makes: what it is in words, how to make it, and the AWS calls it makes
    (``call(...)``: what a dry run shows; the tests hold a perform's calls to them)."""

    says: str
    apply: Callable[[Ctx], None]
    calls: tuple[str, ...]


def call(service: str, operation: str, **params: Any) -> str:
    """One AWS call of a plan, as a person would type it: ``ec2 RevokeSecurityGroupIngress
    GroupId=sg-1 SecurityGroupRuleIds=["sgr-2"]`` (a value not known yet: ``<new VPC>``)."""
    import json

    shown = " ".join(
        f"{k}={v if isinstance(v, str) else json.dumps(v, default=str)}" for k, v in params.items()
    )
    return f"{service} {operation}" + (f" {shown}" if shown else "")


@dataclass(frozen=True)
class Manual:
    """A step perform cannot do for the user: the guide's instructions, shown in the plan."""

    says: str


Fixer = Callable[[Inventory, Profile], list[Action | Manual]]
FIXERS: dict[str, Fixer] = {}


def fixes(*check_ids: str) -> Callable[[Fixer], Fixer]:
    def register(fn: Fixer) -> Fixer:
        for check_id in check_ids:
            if check_id in FIXERS:
                raise ValueError(f"two fixers for {check_id}")
            FIXERS[check_id] = fn
        return fn

    return register


def manual(text: str) -> Fixer:
    """A fixer that only tells the user what to do."""

    def fixer(inv: Inventory, p: Profile) -> list[Action | Manual]:
        return [Manual(text)]

    fixer.manual_only = True  # type: ignore[attr-defined]
    return fixer


def only_manual(check_id: str) -> bool:
    """Whether perform can do nothing about the check but say what to do."""
    return getattr(FIXERS.get(check_id), "manual_only", False)


def json_policy(statements: list[dict[str, Any]]) -> str:
    import json

    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def ensure_role(ctx: Ctx, name: str, service: str) -> dict[str, Any]:
    """The role as the inventory shows it; created (tagged, trusted by ``service``) if missing."""
    role = ctx.inv.role(name)
    if role is not None:
        return role
    created = ctx.client("iam").create_role(
        RoleName=name, Tags=ctx.tag_list(), AssumeRolePolicyDocument=trust_policy(service)
    )["Role"]
    return {"Role": created, "AttachedPolicies": []}


def trust_policy(service: str) -> str:
    return json_policy(
        [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]
    )


ROLE_NOT_READY = ("cannot be assumed", "authorized to assume")


def with_new_role(call: Callable[[], Any], *, attempts: int = 10, delay_s: float = 3.0) -> Any:
    """Run a call that uses a role created moments ago, retrying while IAM propagates it
    (Lambda: 'cannot be assumed'; Step Functions: 'not authorized to assume'). Bounded."""
    import time

    from botocore.exceptions import ClientError

    for attempt in range(attempts):
        try:
            return call()
        except ClientError as exc:
            message = str(exc.response.get("Error", {}).get("Message", ""))
            if attempt + 1 == attempts or not any(m in message for m in ROLE_NOT_READY):
                raise
            time.sleep(delay_s)
    return None
