"""A small IAM policy reader: which statements allow an action on a resource.

Enough to answer the guide's questions (Allow/Deny, wildcards in actions and resources);
conditions are reported, not evaluated.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = document.get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


def as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _matches(patterns: list[str], value: str, *, case: bool) -> bool:
    if not case:
        value = value.lower()
        patterns = [p.lower() for p in patterns]
    return any(fnmatchcase(value, p) for p in patterns)


def allows(documents: list[dict[str, Any]], action: str, resource: str) -> bool:
    """Allowed by some statement and denied by none (IAM's rule, without conditions)."""
    allowed = False
    for doc in documents:
        for st in statements(doc):
            if not _matches(as_list(st.get("Action")), action, case=False):
                continue
            if not _matches(as_list(st.get("Resource", "*")), resource, case=True):
                continue
            if st.get("Effect") == "Deny":
                return False
            allowed = allowed or st.get("Effect") == "Allow"
    return allowed


def resources_for(document: dict[str, Any], action: str) -> list[str]:
    """Every resource an Allow statement names for the action."""
    out: list[str] = []
    for st in statements(document):
        if st.get("Effect") == "Allow" and _matches(as_list(st.get("Action")), action, case=False):
            out.extend(as_list(st.get("Resource")))
    return out
