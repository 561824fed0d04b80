"""Every check says how bad its fail is and why; --fail-on decides which fails fail the run."""

from __future__ import annotations

from pathlib import Path

from runbook.errors import ExitStatus
from runbook.registry import SEVERITIES, checks_in_guide_order, checks_markdown
from runbook.report import writers

from .run_reports import report_of

ROOT = Path(__file__).resolve().parents[2]
REGION_EIP = "region_has_no_idle_elastic_ip"  # low
EXPOSURE = "no_security_group_admits_internet_to_database_or_lambda"  # critical


def test_every_check_has_a_severity_and_a_reason() -> None:
    for c in checks_in_guide_order():
        assert c.severity in SEVERITIES and len(c.risk) > 20, c.id
    assert {c.severity for c in checks_in_guide_order()} == set(SEVERITIES)


def test_docs_list_every_check_with_its_severity() -> None:
    assert (ROOT / "docs" / "checks.md").read_text() == checks_markdown(), (
        "docs/checks.md is stale: notifier-runbook checks --markdown > docs/checks.md"
    )


def _with_fail_on(statuses: dict[str, str], fail_on: str) -> dict:
    report = report_of(statuses)
    report["run"]["fail_on"] = fail_on
    report["run"]["exit_status"] = int(writers.exit_status(report))
    return report


def test_fails_below_fail_on_are_reported_but_do_not_fail_the_run() -> None:
    low = {REGION_EIP: "fail"}
    assert ExitStatus(_with_fail_on(low, "low")["run"]["exit_status"]) == ExitStatus.UNHEALTHY
    high = _with_fail_on(low, "high")
    assert ExitStatus(high["run"]["exit_status"]) == ExitStatus.HEALTHY
    assert writers.verdict(high).endswith("1 fail(s) below --fail-on high not counted")
    assert any(line.startswith("FAIL (low)") for line in writers.problems(high))
    critical = _with_fail_on({REGION_EIP: "fail", EXPOSURE: "fail"}, "critical")
    assert ExitStatus(critical["run"]["exit_status"]) == ExitStatus.UNHEALTHY
