"""What a check concludes: a Finding with its status, evidence and the guide step that fixes it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

Severity = Literal["critical", "high", "medium", "low"]


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"  # could not check: access denied, unreachable, throttled past retries
    SKIP = "skip"  # does not apply: not in this variant or phase
    WAIVED = "waived"  # a deviation accepted by a waiver in force: cannot fail the run
    NOT_SELECTED = "not_selected"  # left out of this run by -m (only in the report)


@dataclass(frozen=True)
class Outcome:
    """What a check function returns; the engine adds the check's identity to make a Finding."""

    status: Status
    summary: str
    expected: Any = None
    actual: Any = None
    evidence: Any = None
    advisories: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    resource: str | None = None  # what was judged: an id, ARN or name the console shows
    differs: Any = None  # what differs, when the check says it better than expected vs actual


def passed(
    summary: str,
    *,
    actual: Any = None,
    evidence: Any = None,
    advisories: tuple[str, ...] = (),
    resource: str | None = None,
    **details: Any,
) -> Outcome:
    return Outcome(
        Status.PASS,
        summary,
        actual=actual,
        evidence=evidence,
        advisories=advisories,
        details=details,
        resource=resource,
    )


def failed(
    summary: str,
    *,
    expected: Any,
    actual: Any,
    evidence: Any = None,
    advisories: tuple[str, ...] = (),
    resource: str | None = None,
    differs: Any = None,
    **details: Any,
) -> Outcome:
    return judged(
        False,
        summary,
        expected=expected,
        actual=actual,
        evidence=evidence,
        advisories=advisories,
        resource=resource,
        differs=differs,
        **details,
    )


def judged(
    ok: bool,
    summary: str,
    *,
    expected: Any,
    actual: Any,
    evidence: Any = None,
    advisories: tuple[str, ...] = (),
    resource: str | None = None,
    differs: Any = None,
    **details: Any,
) -> Outcome:
    """Pass or fail on one condition, with the same expected/actual either way."""
    return Outcome(
        Status.PASS if ok else Status.FAIL,
        summary,
        expected=expected,
        actual=actual,
        evidence=evidence,
        advisories=advisories,
        details=details,
        resource=resource,
        differs=differs,
    )


@dataclass(frozen=True)
class FixStep:
    """One step of what fixes a finding: an action perform makes (with the AWS calls it makes)
    or a manual step it shows. ``state`` says what became of it: planned, applied, failed
    (perform), or manual (a person's to do)."""

    says: str
    calls: tuple[str, ...] = ()
    state: Literal["planned", "applied", "failed", "manual"] = "planned"

    def to_dict(self) -> dict[str, Any]:
        return {"says": self.says, "calls": list(self.calls), "state": self.state}


@dataclass(frozen=True)
class Finding:
    check_id: str
    section: str
    says: str
    status: Status
    summary: str
    guide: str
    expected: Any = None
    actual: Any = None
    evidence: Any = None
    advisories: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    severity: Severity = "high"
    risk: str = ""
    resource: str | None = None
    differs: Any = None  # the check's own account of what differs (else derived)
    console: str | None = None  # where in the AWS console the resource is
    steps: tuple[FixStep, ...] = ()  # what fixes it (perform's actions, manual steps)
    waiver: dict[str, Any] | None = None  # the waiver that accepted it, or whose date passed

    @property
    def performable(self) -> bool:
        """Perform has an action for it (not only manual steps)."""
        return any(s.state != "manual" for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.check_id,
            "says": self.says,
            "status": str(self.status),
            "severity": self.severity,
            "risk": self.risk,
            "summary": self.summary,
            "resource": self.resource,
            "expected": self.expected,
            "actual": self.actual,
            "differs": (self.differs or differs(self.expected, self.actual))
            if self.status == Status.FAIL
            else None,
            "evidence": self.evidence,
            "guide": self.guide,
            "console": self.console,
            "advisories": list(self.advisories),
            "details": self.details,
            "steps": [s.to_dict() for s in self.steps],
            "waiver": self.waiver,
        }


def differs(expected: Any, actual: Any) -> Any:
    """Only what differs: for mappings, the keys whose values differ (each with expected and
    actual); for lists, what is missing and what is extra; else both values."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return {
            k: differs(expected.get(k), actual.get(k))
            for k in sorted(set(expected) | set(actual), key=str)
            if expected.get(k) != actual.get(k)
        }
    if isinstance(expected, list) and isinstance(actual, list):
        hashable = [json.dumps(x, sort_keys=True, default=str) for x in expected]
        present = [json.dumps(x, sort_keys=True, default=str) for x in actual]
        return {
            "missing": [e for e, h in zip(expected, hashable, strict=True) if h not in present],
            "extra": [a for a, h in zip(actual, present, strict=True) if h not in hashable],
        }
    return {"expected": expected, "actual": actual}


def absent(what: str, name: str) -> Outcome:
    """The failure every check gives when the resource it judges does not exist."""
    return failed(
        f"{what} {name!r} does not exist", expected=name, actual=None, resource=f"{what} {name}"
    )
