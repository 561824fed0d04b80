"""Reports of made-up runs, built as the plugin builds them: a Run whose findings are set
by hand (no AWS call), then ``model.build`` and the exit status."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from runbook.engine import finding
from runbook.findings import Outcome, Status
from runbook.profile import History, Profile
from runbook.registry import checks_in_guide_order
from runbook.report import history, model, writers
from runbook.run import Run

VPC = "vpc_exists_with_profile_cidr"  # section vpc
RULE = "rule_fires_hourly_and_is_enabled"  # section trigger
ROOT_KEYS = "root_account_has_no_access_keys"  # section iam


def report_of(
    statuses: dict[str, str],
    *,
    started: str = "2026-11-23T03:00:00+00:00",
    profile: Profile | None = None,
    incidents: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """The report of a run that evaluated exactly ``statuses`` (check id → status), the
    checks in ``incidents`` naming those."""
    run = Run(profile or Profile(name="lab"), started=datetime.fromisoformat(started))
    checks = {c.id: c for c in checks_in_guide_order()}
    for check_id, status in statuses.items():
        named = (incidents or {}).get(check_id)
        run.findings[check_id] = finding(
            checks[check_id],
            Outcome(
                Status(status),
                f"{check_id} is {status}",
                details={"incidents": named} if named else {},
            ),
        )
    report = model.build(run, exit_status=0)
    report["run"]["exit_status"] = int(writers.exit_status(report))
    return report


def recorded(
    report: dict[str, Any],
    reports: Path,
    settings: History | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Compare ``report`` with the history in ``reports`` and write it there, as the plugin
    does once the notifications (``report["notifications"]``, none here) are sent."""
    history.record(history.apply(report, reports, settings or History(), now), report)
    return report


def check_of(report: dict[str, Any], check_id: str) -> dict[str, Any]:
    return next(c for s in report["sections"] for c in s["checks"] if c["id"] == check_id)


def section_of(report: dict[str, Any], section_id: str) -> dict[str, Any]:
    return next(s for s in report["sections"] if s["id"] == section_id)
