"""summary.md as a CI job summary shows it: the verdict, what fails and what changed first,
then the section table, then each section's detail folded away."""

from __future__ import annotations

from pathlib import Path

from runbook.report import writers

from .run_reports import RULE, VPC, check_of, recorded, report_of
from .test_report_html import blamed_report, failing_report


def test_failures_and_changes_come_before_the_table_and_the_details_are_folded(
    tmp_path: Path,
) -> None:
    recorded(report_of({VPC: "pass", RULE: "pass"}, started="2026-11-22T03:00:00+00:00"), tmp_path)
    report = recorded(failing_report(), tmp_path)
    md = writers.markdown(report)
    heads = [line for line in md.splitlines() if line.startswith("## ")]
    assert heads == [
        "## Failures (1 failed, 1 could not be checked)",
        "## Changes since the last run",
        "## Sections",
        "## Details",
    ]
    assert md.splitlines()[2] == f"**{writers.verdict(report)}**"
    failures = md[md.index("## Failures") : md.index("## Changes")]
    assert f"- FAIL (high) vpc/{VPC}:" in failures
    assert "  - perform would: create VPC WikidotNotifierVPC 10.0.0.0/16" in failures
    # every section that ran is folded, and the folds are closed properly
    details = md[md.index("## Details") :]
    assert details.count("<details>") == details.count("</details>") == 4  # 3 sections + calls
    vpc = "<details><summary>Creating a VPC / Adding another subnet — FAIL</summary>\n\n"
    assert vpc in md  # a blank line after the summary: GitHub renders the Markdown inside


def test_a_healthy_run_has_no_failures_part() -> None:
    md = writers.markdown(report_of({VPC: "pass"}))
    assert "## Failures" not in md and "**verdict: healthy (exit status 0)" in md


def test_text_from_aws_cannot_close_the_folds() -> None:
    report = report_of({VPC: "fail"})
    check_of(report, VPC)["summary"] = "name </details><script>x</script> & more"
    md = writers.markdown(report)
    assert "</details><script>" not in md
    assert "name &lt;/details>&lt;script>x&lt;/script> &amp; more" in md
    assert md.count("<details>") == md.count("</details>")


def test_blame_lines_are_with_the_failure_and_say_why_when_none() -> None:
    report = blamed_report()
    check_of(report, VPC)["changed_by"]["note"] = "not all of its names were looked up"
    report["blame"]["note"] = "stopped at 10 look-ups (AWS allows 2 a second)"
    md = writers.markdown(report)
    failures = md[md.index("## Failures") : md.index("## Sections")]
    assert (
        "  - changed: 2026-12-03T08:53:09+00:00 by mallory&lt;img>: ec2:ModifyVpcAttribute "
        "on vpc-0abc" in failures
    )
    assert "  - changed: not all of its names were looked up" in failures
    assert "- blame: 1 CloudTrail look-up(s); stopped at 10 look-ups" in failures
    assert "changed:" not in writers.markdown(failing_report())
