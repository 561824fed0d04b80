"""What a check concludes: a Finding with its status, evidence and the guide step that fixes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

Severity = Literal["critical", "high", "medium", "low"]


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"  # could not check: access denied, unreachable, throttled past retries
    SKIP = "skip"  # does not apply: not in this variant or phase
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


def passed(
    summary: str,
    *,
    actual: Any = None,
    evidence: Any = None,
    advisories: tuple[str, ...] = (),
    **details: Any,
) -> Outcome:
    return Outcome(
        Status.PASS,
        summary,
        actual=actual,
        evidence=evidence,
        advisories=advisories,
        details=details,
    )


def failed(
    summary: str,
    *,
    expected: Any,
    actual: Any,
    evidence: Any = None,
    advisories: tuple[str, ...] = (),
    **details: Any,
) -> Outcome:
    return judged(
        False,
        summary,
        expected=expected,
        actual=actual,
        evidence=evidence,
        advisories=advisories,
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
    )


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
    actions: tuple[str, ...] = ()  # what perform did about it, in words
    severity: Severity = "high"
    risk: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.check_id,
            "says": self.says,
            "status": str(self.status),
            "severity": self.severity,
            "risk": self.risk,
            "summary": self.summary,
            "expected": self.expected,
            "actual": self.actual,
            "evidence": self.evidence,
            "guide": self.guide,
            "advisories": list(self.advisories),
            "details": self.details,
            "actions": list(self.actions),
        }


def absent(what: str, name: str) -> Outcome:
    """The failure every check gives when the resource it judges does not exist."""
    return failed(f"{what} {name!r} does not exist", expected=name, actual=None)
