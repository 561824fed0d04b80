"""The report as data: sections in guide order, their checks, and the run's metadata.

This dict is exactly what ``summary.json`` holds (schema in docs/report.md).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from runbook import __version__
from runbook.engine import finding, not_applicable
from runbook.findings import Finding, Outcome, Status
from runbook.narrative import step_of
from runbook.profile_keys import perform_only_set
from runbook.registry import checks_in_guide_order
from runbook.run import Run
from runbook.sections import SECTIONS

SCHEMA_VERSION = 1


def section_status(statuses: list[Status]) -> Status:
    """fail beats error beats pass; a section with nothing but skips is skipped, one with none
    of its checks in this run is not selected."""
    for s in (Status.FAIL, Status.ERROR, Status.PASS, Status.SKIP):
        if s in statuses:
            return s
    return Status.NOT_SELECTED


def all_findings(run: Run) -> list[Finding]:
    """A finding for every registered check: those -m left out are not selected."""
    out = []
    for check in checks_in_guide_order():
        found = run.findings.get(check.id)
        if found is None:
            reason = not_applicable(check, run.profile)
            why = f"not selected in this run ({reason})" if reason else "not selected in this run"
            found = finding(check, Outcome(Status.NOT_SELECTED, why), run.profile)
        out.append(found)
    return out


def waivers(run: Run, findings: list[Finding]) -> dict[str, Any]:
    """The run's waivers: which applied, which are past their date (and apply no more), which
    found nothing to accept (an unknown check, or one that did not fail)."""
    w = run.waivers
    applied = [f.check_id for f in findings if f.status == Status.WAIVED]
    known = {c.id for c in checks_in_guide_order()}
    return {
        "file": w.source,
        "ignored": w.ignored,
        "applied": applied,
        "expired": [x.to_dict() for x in w.expired],
        "unused": [
            {**x.to_dict(), "why": "no such check" if x.check not in known else "it did not fail"}
            for x in w.active
            if x.check not in applied
        ],
    }


def lookback(run: Run) -> dict[str, Any]:
    """The look-back (``asked``: given on the command line, else null) and the window the
    checks read (null: none read it)."""
    hours = run.profile.operations.lookback_hours
    window = run.inventory.window_read(str(hours)) or {"start": None, "end": None}
    return {"hours": hours, "asked": hours if run.lookback_asked else None, **window}


def _check(run: Run, found: Finding) -> dict[str, Any]:
    """A finding as the report holds it; with ``--blame``, a failing one's ``changed_by``."""
    out = found.to_dict()
    step = step_of(found.check_id)
    out["step"] = {"id": step.id, "says": step.says} if step else None
    if run.blamed is not None and found.check_id in run.blamed["checks"]:
        out["changed_by"] = run.blamed["checks"][found.check_id]
    return out


def blame_summary(run: Run) -> dict[str, Any] | None:
    """``--blame``'s look-ups and why they stopped early, if they did; None without it."""
    if run.blamed is None:
        return None
    return {"lookups": run.blamed["lookups"], "note": run.blamed["note"]}


def build(run: Run, *, exit_status: int) -> dict[str, Any]:
    findings = all_findings(run)
    sections = []
    for section in SECTIONS:
        mine = [f for f in findings if f.section == section.id]
        counts = Counter(str(f.status) for f in mine)
        sections.append(
            {
                "id": section.id,
                "title": section.title,
                "guide": section.guide,
                "status": str(section_status([f.status for f in mine])),
                "counts": {s.value: counts.get(s.value, 0) for s in Status},
                "checks": [_check(run, f) for f in mine],
            }
        )
    totals = Counter(str(f.status) for f in findings)
    return {
        "schema_version": SCHEMA_VERSION,
        "run": {
            "tool": "notifier-runbook",
            "version": __version__,
            "started": run.started.isoformat(timespec="seconds"),
            "duration_s": run.elapsed_s,
            "mode": run.mode,
            "dry_run": run.dry_run,
            "exit_status": exit_status,
            "fail_on": run.fail_on,
            "account": run.account,
            "lookback": lookback(run),
        },
        "profile": {
            "name": run.profile.name,
            "source": run.profile.source,
            "region": run.profile.region,
            "phase": run.profile.deployment.phase,
            "variants": run.profile.variants.model_dump(),
            # Set in the profile, but only perform reads them: this verify did not judge them.
            "not_judged": perform_only_set(run.profile) if run.mode == "verify" else [],
        },
        "totals": {s.value: totals.get(s.value, 0) for s in Status},
        "advisories": sum(len(f.advisories) for f in findings),
        "sections": sections,
        "aws_calls": run.aws_calls(),
        "aws_retries": run.retries(),
        "mutating_calls": run.mutating_calls(),
        "lease_calls": run.lease_calls(),
        "waivers": waivers(run, findings),
        "blame": blame_summary(run),
        "plan": [
            {"section": f.section, "id": f.check_id, **step.to_dict()}
            for f in findings
            for step in f.steps
        ],
    }
