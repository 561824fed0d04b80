"""What a role may do, proven by IAM's own policy evaluation (``iam:SimulatePrincipalPolicy``).

A role "with a policy" proves nothing: the policy may name another resource, a boundary may cut
it, a deny may override it. The simulator answers for exactly the calls the deployment makes,
with every policy the role has; the checks only say which calls those are.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from checks.policy import trusts
from runbook.findings import Outcome, failed, judged

if TYPE_CHECKING:
    from runbook.aws.inventory import Inventory

Need = tuple[str, str]  # (IAM action, resource ARN or "*")


def decisions(inv: Inventory, principal: str, needs: Iterable[Need]) -> dict[Need, str] | None:
    """IAM's decision for each need; None when the principal does not exist."""
    needs = list(needs)
    actions = " ".join(sorted({a for a, _ in needs}))
    resources = " ".join(sorted({r for _, r in needs}))
    got = inv.simulation(principal, actions, resources)
    if got is None:
        return None
    return {(a, r): got["decisions"][a][r] for a, r in needs}


def not_allowed(found: dict[Need, str]) -> list[str]:
    return [f"{a} on {r} ({d})" for (a, r), d in found.items() if d != "allowed"]


def role_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def role_may(
    inv: Inventory,
    role_arn: str | None,
    service: str,
    needs: list[Need],
    what: str,
    *,
    wider: tuple[Need, str] | None = None,
) -> Outcome:
    """The role exists, ``service`` may assume it, and IAM allows it every need. ``wider`` is
    a call beyond the guide's, asked in the same simulation: allowed, its advisory is given."""
    if not role_arn:
        return failed(f"{what} has no role", expected="a role ARN", actual=None)
    role = inv.role_record(role_name(role_arn))
    asked = needs + ([wider[0]] if wider else [])
    found = decisions(inv, role_arn, asked) if role is not None else None
    if role is None or found is None:
        return failed(f"{what}'s role {role_arn} does not exist", expected=role_arn, actual=None)
    beyond = found.pop(wider[0]) if wider else None
    trusted, unjudged = trusts(role.get("AssumeRolePolicyDocument") or {}, service)
    denied = not_allowed(found)
    actual = {"assumable_by": service if trusted else None, "not_allowed": denied}
    summary = (
        f"{role_name(role_arn)} may do all {len(needs)} call(s)"
        if not denied
        else f"{role_name(role_arn)} may not: {'; '.join(denied)}"
    )
    if actual["assumable_by"] is None:
        summary = f"{service} may not assume {role_name(role_arn)}; " + summary
    return judged(
        actual == {"assumable_by": service, "not_allowed": []},
        summary,
        expected={"assumable_by": service, "not_allowed": []},
        actual=actual,
        evidence={"role": role_arn, "evaluated": [f"{a} on {r}" for a, r in needs]},
        advisories=((wider[1],) if wider and beyond == "allowed" else ())
        + tuple(
            f"the trust policy of {role_name(role_arn)} denies with a condition that was not "
            f"evaluated: {sid}"
            for sid in unjudged
        ),
    )
