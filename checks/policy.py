"""A small IAM policy reader: which statements allow an action on a resource, whom a resource
policy admits, who may assume a role.

Enough to answer the guide's questions: Allow/Deny, IAM's wildcards, ``NotAction``,
``NotResource`` and ``NotPrincipal``. Conditions are not evaluated; where a condition decides,
the callers report it rather than guess.
"""

from __future__ import annotations

import re
from typing import Any


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = document.get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


def as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _glob(pattern: str, value: str, *, case: bool) -> bool:
    """IAM's wildcards: ``*`` any run of characters, ``?`` exactly one; nothing else special."""
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def covers(statement: dict[str, Any], key: str, value: str, *, case: bool) -> bool:
    """Whether ``key`` (Action, Resource) or its ``Not`` form takes in the value; a statement
    with neither has no limit there (a trust or resource policy may omit Resource)."""
    if key in statement:
        return any(_glob(p, value, case=case) for p in as_list(statement[key]))
    if f"Not{key}" in statement:
        return not any(_glob(p, value, case=case) for p in as_list(statement[f"Not{key}"]))
    return key == "Resource"


def allows(documents: list[dict[str, Any]], action: str, resource: str) -> bool:
    """Allowed by some statement and denied by none (IAM's rule, without conditions)."""
    allowed = False
    for doc in documents:
        for st in statements(doc):
            if not (
                covers(st, "Action", action, case=False)
                and covers(st, "Resource", resource, case=True)
            ):
                continue
            if st.get("Effect") == "Deny":
                return False
            allowed = allowed or st.get("Effect") == "Allow"
    return allowed


def _named(principal: Any) -> list[str]:
    if principal == "*":
        return ["*"]
    if not isinstance(principal, dict):
        return []
    return [p for values in principal.values() for p in as_list(values)]


def principals(statement: dict[str, Any]) -> list[str]:
    """Every principal a statement names: '*', account ids or ARNs, service names. A
    ``NotPrincipal`` statement names everyone but its list: '*'."""
    if "NotPrincipal" in statement:
        return ["*"]
    return _named(statement.get("Principal"))


def names_any(statement: dict[str, Any], who: set[str]) -> bool:
    """Whether the statement applies to one of ``who`` (its ARN, its account's id or root)."""
    if "NotPrincipal" in statement:
        return not who & set(_named(statement["NotPrincipal"]))
    named = set(_named(statement.get("Principal")))
    return "*" in named or bool(who & named)


def _service(pattern: str, service: str) -> bool:
    """``states.amazonaws.com`` also as the older regional ``states.<region>.amazonaws.com``."""
    name = service.removesuffix(".amazonaws.com")
    return (
        pattern == service
        or re.fullmatch(rf"{re.escape(name)}\.[a-z0-9-]+\.amazonaws\.com", pattern) is not None
    )


def trusts(document: dict[str, Any], service: str) -> tuple[bool, list[str]]:
    """Whether a trust policy lets ``service`` assume the role, and the Deny statements with a
    condition that were not evaluated (e.g. a guard on ``aws:SourceAccount``)."""
    trusted, unjudged = False, []
    for st in statements(document):
        if not covers(st, "Action", "sts:AssumeRole", case=False):
            continue
        named = any(p == "*" or _service(p, service) for p in principals(st))
        if named and st.get("Effect") == "Deny":
            if not st.get("Condition"):
                return False, unjudged
            unjudged.append(st.get("Sid") or "a Deny with a condition")
        trusted = trusted or (named and st.get("Effect") == "Allow")
    return trusted, unjudged


def account_of(principal: str) -> str | None:
    """The account a principal belongs to: '123456789012', 'arn:aws:iam::123456789012:...'."""
    if principal.isdigit():
        return principal
    parts = principal.split(":")
    return parts[4] if len(parts) > 4 and principal.startswith("arn:") else None


def outsiders(document: dict[str, Any], account: str) -> list[str]:
    """Principals an Allow statement of a resource policy admits from beyond ``account``:
    anyone ('*', or everyone but a ``NotPrincipal`` list) unless a condition pins the caller
    to the account, another account's principals, or a service not so pinned (a service acts
    for any account's resources unless aws:SourceAccount or aws:SourceArn says whose)."""
    out = []
    for st in statements(document):
        if st.get("Effect") != "Allow":
            continue
        pinned = _pinned_to(st, account)
        for principal in principals(st):
            owner = account_of(principal)
            if owner == account or (owner is None and pinned):
                continue
            out.append(principal)
    return sorted(set(out))


_ACCOUNT_KEYS = ("aws:principalaccount", "aws:sourceaccount", "aws:sourceowner")
_ARN_KEYS = ("aws:sourcearn", "aws:principalarn")


def _pinned_to(statement: dict[str, Any], account: str) -> bool:
    """Whether the statement's condition limits it to callers of ``account``. An ``IfExists``
    test does not: it passes when the key is absent, as it is on many calls."""
    for test, keys in (statement.get("Condition") or {}).items():
        test = test.lower()
        if test.endswith("ifexists") or not test.startswith(
            ("stringequals", "arnequals", "arnlike", "stringlike")
        ):
            continue
        for key, values in keys.items():
            wanted = as_list(values)
            if not wanted:
                continue
            if key.lower() in _ACCOUNT_KEYS and set(wanted) <= {account}:
                return True
            if key.lower() in _ARN_KEYS and all(account_of(v) == account for v in wanted):
                return True
    return False
