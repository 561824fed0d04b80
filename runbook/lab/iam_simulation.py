"""The lab's answer to ``iam:SimulatePrincipalPolicy``, which moto does not implement.

The checks prove what a role may do with IAM's own policy evaluation; on the lab this module
plays IAM. It is the lab's own evaluator, apart from the checks' policy reader
(``checks/policy.py``), so that a mistake in one is not hidden by the same mistake in the other.
What it evaluates, as AWS does for one account:

- the principal's identity policies: a role's or user's inline and attached policies, and a
  user's groups' (AWS-managed ones included, with ``MOTO_IAM_LOAD_MANAGED_POLICIES``);
- its permissions boundary, which limits what they allow;
- ``Action``/``NotAction`` (case-insensitive) and ``Resource``/``NotResource`` with IAM's
  wildcards; an explicit deny wins over any allow, and nothing allowed is an implicit deny.

No context values are simulated: a condition is judged as IAM judges keys that have no value
(negated and ``...IfExists`` operators and ``Null: true`` hold, any other test fails), and its
keys are reported in ``MissingContextValues``, as AWS reports keys nobody supplied. The answer
has the shape AWS gives today: one result per action, the most restrictive decision on top and
one ``ResourceSpecificResults`` entry per resource.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

DECISIONS = ("allowed", "implicitDeny", "explicitDeny")  # from least to most restrictive


@dataclass(frozen=True)
class Source:
    """One policy document and how AWS names it in MatchedStatements."""

    policy_id: str
    policy_type: str  # "IAM Policy" or "PermissionsBoundaryPolicy"
    document: dict[str, Any]


def _document(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    return json.loads(unquote(text) if text.lstrip().startswith("%") else text)


def _wildcard(pattern: str, value: str, *, case: bool) -> bool:
    """IAM's wildcards: ``*`` any run of characters, ``?`` exactly one."""
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _matches(statement: dict[str, Any], key: str, value: str, *, case: bool) -> bool:
    """Whether ``key`` (Action/Resource) or its ``Not`` form admits the value."""
    if key in statement:
        return any(_wildcard(p, value, case=case) for p in _listed(statement[key]))
    if f"Not{key}" in statement:
        return not any(_wildcard(p, value, case=case) for p in _listed(statement[f"Not{key}"]))
    return False


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = document.get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


def _condition_keys(statement: dict[str, Any]) -> list[str]:
    return sorted({key for test in (statement.get("Condition") or {}).values() for key in test})


def _holds_without_context(statement: dict[str, Any]) -> bool:
    """Whether the statement's condition holds when no context key has a value, as IAM judges
    a missing key: a negated operator, an ``...IfExists`` one, and ``Null: true`` hold; any
    other test fails."""
    for operator, tests in (statement.get("Condition") or {}).items():
        op = operator.removeprefix("ForAllValues:").removeprefix("ForAnyValue:")
        if op.endswith("IfExists") or "Not" in op:
            continue
        if op == "Null" and all(str(v).lower() == "true" for v in tests.values()):
            continue
        return False
    return True


@dataclass
class Verdict:
    decision: str
    matched: list[dict[str, str]]
    missing: set[str]


def _judge(sources: list[Source], action: str, resource: str) -> Verdict:
    """Deny wins; else an allow; else implicit deny."""
    allows: list[dict[str, str]] = []
    missing: set[str] = set()
    for source in sources:
        for statement in _statements(source.document):
            if not (
                _matches(statement, "Action", action, case=False)
                and _matches(statement, "Resource", resource, case=True)
            ):
                continue
            missing.update(_condition_keys(statement))
            if not _holds_without_context(statement):
                continue
            named = {"SourcePolicyId": source.policy_id, "SourcePolicyType": source.policy_type}
            if statement.get("Effect") == "Deny":
                return Verdict("explicitDeny", [named], missing)
            if statement.get("Effect") == "Allow":
                allows.append(named)
    return Verdict("allowed" if allows else "implicitDeny", allows, missing)


def evaluate(identity: list[Source], boundary: list[Source], action: str, resource: str) -> Verdict:
    """The decision for one action on one resource, the permissions boundary included."""
    verdict = _judge(identity, action, resource)
    if boundary and verdict.decision == "allowed":
        limit = _judge(boundary, action, resource)
        if limit.decision != "allowed":
            return Verdict(limit.decision, limit.matched, verdict.missing | limit.missing)
    return verdict


def _managed(policy: Any) -> dict[str, Any]:
    version = next(v for v in policy.versions if v.is_default)
    return _document(version.document)


def principal_sources(backend: Any, arn: str) -> tuple[list[Source], list[Source]]:
    """The identity policies and the permissions boundary of a role, user or group ARN."""
    kind, _, name = arn.split(":", 5)[5].partition("/")
    name = name.rsplit("/", 1)[-1]
    if kind == "role":
        entity = backend.get_role(name)
        holders = [entity]
    elif kind == "user":
        entity = backend.get_user(name)
        holders = [entity, *backend.get_groups_for_user(name)]
    elif kind == "group":
        entity = backend.get_group(name)
        holders = [entity]
    else:
        raise ValueError(f"not a user, group or role: {arn}")
    identity = [
        source
        for holder in holders
        for source in (
            *(Source(n, "IAM Policy", _document(d)) for n, d in holder.policies.items()),
            *(Source(p.name, "IAM Policy", _managed(p)) for p in holder.managed_policies.values()),
        )
    ]
    boundary_arn = getattr(entity, "permissions_boundary_arn", None)
    boundary = (
        [
            Source(
                boundary_arn,
                "PermissionsBoundaryPolicy",
                _managed(backend.get_policy(boundary_arn)),
            )
        ]
        if boundary_arn
        else []
    )
    return identity, boundary


def simulate(
    backend: Any, arn: str, actions: list[str], resources: list[str]
) -> Iterator[dict[str, Any]]:
    """EvaluationResults as AWS gives them: one per action, one entry per resource inside."""
    identity, boundary = principal_sources(backend, arn)
    for action in actions:
        per_resource = [(r, evaluate(identity, boundary, action, r)) for r in resources or ["*"]]
        worst = max(per_resource, key=lambda pair: DECISIONS.index(pair[1].decision))
        missing = sorted(set().union(*(v.missing for _, v in per_resource)))
        yield {
            "EvalActionName": action,
            "EvalResourceName": worst[0],
            "EvalDecision": worst[1].decision,
            "MatchedStatements": worst[1].matched,
            "MissingContextValues": missing,
            "ResourceSpecificResults": [
                {
                    "EvalResourceName": resource,
                    "EvalResourceDecision": verdict.decision,
                    "MatchedStatements": verdict.matched,
                    "MissingContextValues": sorted(verdict.missing),
                }
                for resource, verdict in per_resource
            ],
        }


def patch_simulate_principal_policy() -> None:
    """Give moto's IAM the ``SimulatePrincipalPolicy`` action (moto: NotImplementedError)."""
    from moto.core.responses import ActionResult
    from moto.iam.exceptions import InvalidInput
    from moto.iam.responses import IamResponse

    def simulate_principal_policy(self: Any) -> ActionResult:
        arn = self._get_param("PolicySourceArn")
        actions = self._get_param("ActionNames", [])
        resources = self._get_param("ResourceArns", [])
        try:  # an unknown principal: moto's own NoSuchEntity, as AWS answers
            results = list(simulate(self.backend, arn, actions, resources))
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        return ActionResult({"EvaluationResults": results, "IsTruncated": False})

    setattr_once(IamResponse, "simulate_principal_policy", simulate_principal_policy)


def setattr_once(owner: type, name: str, value: Callable[..., Any]) -> None:
    """Add a method moto lacks; applying the patch twice is a no-op."""
    if name not in owner.__dict__:
        setattr(owner, name, value)
