"""Runs one check against the inventory and turns its outcome, or its failure, into a Finding."""

from __future__ import annotations

from runbook.aws.collected import CollectionError
from runbook.aws.inventory import Inventory
from runbook.findings import Finding, Outcome, Status
from runbook.profile import Profile
from runbook.redact import scrub, scrub_data
from runbook.registry import Check
from runbook.sections import SECTION_BY_ID


def not_applicable(check: Check, profile: Profile) -> str | None:
    """Why a check does not apply to this profile's variants, or None."""
    return SECTION_BY_ID[check.section].applies(profile) or check.applies(profile)


def evaluate(check: Check, inventory: Inventory, profile: Profile) -> Finding:
    reason = not_applicable(check, profile)
    if reason:
        return finding(check, Outcome(Status.SKIP, reason))
    try:
        outcome = check.fn(inventory, profile)
    except CollectionError as exc:
        outcome = (
            Outcome(Status.SKIP, exc.args[0])
            if exc.kind == "skip"
            else Outcome(
                Status.ERROR,
                f"could not check: {exc}",
                evidence={"cause": exc.kind, "permission": exc.permission},
            )
        )
    except Exception as exc:  # a defect in the check: never a pass, a fail or a silent skip
        outcome = Outcome(
            Status.ERROR,
            f"could not check: the check crashed ({type(exc).__name__}: {scrub(str(exc))[:200]}); "
            "please report it",
            evidence={"cause": "check-crashed"},
        )
    return finding(check, outcome)


def finding(check: Check, outcome: Outcome, actions: tuple[str, ...] = ()) -> Finding:
    """The finding of one check; no secret value met in the run survives in what it says."""
    return Finding(
        check_id=check.id,
        section=check.section,
        says=check.says,
        status=outcome.status,
        summary=scrub(outcome.summary),
        guide=f"{SECTION_BY_ID[check.section].guide}: {check.guide}",
        expected=scrub_data(outcome.expected),
        actual=scrub_data(outcome.actual),
        evidence=scrub_data(outcome.evidence),
        advisories=tuple(scrub(a) for a in outcome.advisories),
        details=scrub_data(outcome.details),
        actions=actions,
        severity=check.severity,
        risk=check.risk,
    )
