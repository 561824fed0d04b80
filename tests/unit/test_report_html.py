"""reports/report.html as a person meets it: opened from a file in a real headless browser
(Debian's chromium) that can reach no network, with and without a filter in its URL; and
its promises checked on the file itself: self-contained, small, escaped, ordered like the
guide, the history drawn as strips."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from runbook.report import html
from runbook.sections import SECTIONS
from tests.browser import browse

from .run_reports import ROOT_KEYS, RULE, VPC, check_of, recorded, report_of

FIX = "create VPC WikidotNotifierVPC 10.0.0.0/16"
CALL = "ec2 CreateVpc CidrBlock=10.0.0.0/16"


def failing_report() -> dict[str, Any]:
    """The VPC fails (with its fix), the root account's keys could not be checked."""
    report = report_of({VPC: "fail", RULE: "pass", ROOT_KEYS: "error"})
    check_of(report, VPC)["steps"] = [{"says": FIX, "calls": [CALL], "state": "planned"}]
    check_of(report, VPC)["differs"] = {
        "cidr": {"expected": "10.0.0.0/16", "actual": "10.9.0.0/16"}
    }
    return report


def history_of(states: list[str]) -> list[dict[str, Any]]:
    """Records where the VPC check had each of ``states`` in turn ("none": not evaluated)."""
    return [
        {
            "started": f"2026-11-{n + 1:02d}T03:00:00+00:00",
            "checks": {} if s == "none" else {VPC: {"section": "vpc", "status": s}},
        }
        for n, s in enumerate(states)
    ]


def test_the_page_is_self_contained_small_and_ordered_like_the_guide() -> None:
    page = html.render(failing_report(), history_of(["pass", "fail"]))
    assert len(page.encode()) < 1024 * 1024
    # nothing fetched: no src or href anywhere, no URL of any scheme but the page's own
    assert not re.search(r"\b(src|href)=", page)
    assert "http://" not in page and "https://" not in page and "@import" not in page
    titles = [page.index(f"<strong>{s.title}</strong>") for s in SECTIONS]
    assert titles == sorted(titles)
    failures = page.index('id="failures"')
    assert failures < page.index('id="sections"')
    # failures first: the fail before the could-not-check, each before the sections
    assert failures < page.index(f"<code>{VPC}</code>") < page.index(f"<code>{ROOT_KEYS}</code>")


def test_text_from_aws_is_escaped() -> None:
    report = report_of({VPC: "fail"})
    check_of(report, VPC)["summary"] = "<script>alert(1)</script> & <b>"
    page = html.render(report)
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;" in page


def test_a_section_strip_shows_each_runs_state_oldest_first() -> None:
    report = report_of({VPC: "fail"})
    trends = html.section_trends(report, history_of(["pass", "error", "none", "fail"]))
    assert [t["state"] for t in trends["vpc"]] == ["pass", "error", "not_run", "fail"]
    assert [t["state"] for t in trends["iam"]] == ["not_run"] * 4
    many = html.section_trends(report, history_of(["pass"] * 30))
    assert len(many["vpc"]) == html.TREND_RUNS  # the last runs only
    page = html.render(report, history_of(["pass", "fail"]))
    strip = re.search(r'<details class="section fail" id="section-vpc".*?</svg>', page, re.S)
    assert strip is not None
    cells = re.findall(r'class="cell (\w+)"><title>([^<]+)</title>', strip.group(0))
    assert cells == [
        ("pass", "2026-11-01T03:00:00+00:00: pass"),
        ("fail", "2026-11-02T03:00:00+00:00: fail"),
    ]


# --- In a real browser ----------------------------------------------------------------------


@pytest.fixture
def page(tmp_path: Path) -> Path:
    path = tmp_path / "report.html"
    path.write_text(html.render(failing_report(), history_of(["pass", "fail"])))
    return path


def test_the_browser_renders_the_verdict_the_sections_and_the_fix(page: Path) -> None:
    dom = browse(page)
    assert "verdict: unhealthy (exit status 1)" in dom
    for section in SECTIONS:
        assert section.title in dom
    assert FIX in dom and CALL in dom
    assert '<nav id="filters">' in dom  # the script ran: the filters are shown
    assert 'data-hidden=""' not in dom  # and nothing is filtered out unasked


def test_a_filter_in_the_url_is_applied_on_load(page: Path) -> None:
    dom = browse(page, "?status=fail")
    shown = re.findall(r'<li class="check (\w+)"[^>]*?(data-hidden="")?>', dom)
    assert ("fail", "") in shown
    assert all(hidden for status, hidden in shown if status != "fail")


def test_without_javascript_everything_is_there_to_read(page: Path) -> None:
    """Headless chromium cannot turn scripts off: the page is opened without its script,
    which is what a browser (or a mail reader) with JavaScript off renders."""
    bare = page.with_name("no-script.html")
    bare.write_text(re.sub(r"<script>.*?</script>", "", page.read_text(), flags=re.S))
    dom = browse(bare, "?status=fail")
    assert FIX in dom and "verdict: unhealthy" in dom
    assert '<nav id="filters" hidden="">' in dom  # filters need the script: not offered
    assert 'data-hidden=""' not in dom  # nothing filtered away


def test_a_screenshot_of_the_page(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    browse(page, screenshot=shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_the_operations_hours_strip_names_each_hour_of_the_window() -> None:
    rule, runs = "rule_fired_once_every_hour", "state_machine_ran_every_hour_and_succeeded"
    report = report_of(
        {rule: "fail", runs: "fail"},
        incidents={
            rule: ["missed 2026-11-23T05:00Z", "more than once 2026-11-23T06:00Z"],
            runs: ["late 2026-11-23T07:00Z (run-7)", "not succeeded 2026-11-23T09:00Z"],
        },
    )
    report["run"]["lookback"] = {
        "hours": 48,
        "asked": None,
        "start": "2026-11-22T00:00:00+00:00",
        "end": "2026-11-23T12:00:00+00:00",
    }
    hours = html.operation_hours(report)
    assert len(hours) == html.HOURS_SHOWN  # 36 hours looked back over: the last 24 drawn
    assert hours[0]["hour"] == "2026-11-22T12:00Z" and hours[-1]["hour"] == "2026-11-23T11:00Z"
    states = {h["hour"][11:13]: h["state"] for h in hours if h["hour"].startswith("2026-11-23")}
    assert states == {
        **{f"{n:02d}": "ok" for n in range(12)},
        "05": "missed",
        "06": "other",
        "07": "late",
        "09": "failed",
    }
    page = html.render(report)
    assert page.count('class="hour ') == html.HOURS_SHOWN
    assert "<title>2026-11-23T05:00Z: missed</title>" in page


def test_failing_since_comes_from_the_history(tmp_path: Path) -> None:
    first = "2026-11-22T03:00:00+00:00"
    recorded(report_of({VPC: "fail"}, started=first), tmp_path)
    report = recorded(report_of({VPC: "fail"}, started="2026-11-23T03:00:00+00:00"), tmp_path)
    page = html.render(report)
    assert page.count(f"failing since {first}") == 2  # among the failures, and in its section


def test_at_a_glance_the_next_runs_the_cost_and_the_way_out() -> None:
    fire, cost, eips = html.NEXT_FIRES, html.COST, html.EIP_CHECK
    report = report_of({fire: "pass", cost: "pass", eips: "fail"})
    times = [f"2026-11-23 0{n}:00 UTC" for n in range(4, 8)]
    check_of(report, fire)["details"] = {"next_fire_times": times}
    check_of(report, cost).update(
        evidence={"breakdown_usd": {"ec2-instance": 6.13, "elastic-ips": 7.3}},
        expected="<= $30.00",
        actual=13.43,
    )
    check_of(report, eips)["actual"] = {
        "eni-1": {"subnet": "Lambda1", "in_internet_group": True, "elastic_ip": "203.0.113.7"},
        "eni-2": {"subnet": "Lambda2", "in_internet_group": True, "elastic_ip": None},
    }
    glance = re.search(r'<section id="glance">.*?</section>', html.render(report), re.S)
    assert glance is not None
    text = re.sub(r"<[^>]+>", " ", glance.group(0))
    assert all(t in text for t in times[:3]) and times[3] not in text  # the next three
    assert "ec2-instance" in text and "$6.13" in text and "$13.43" in text and "$30.00" in text
    assert re.search(r"Lambda1\s+→\s+eni-1\s+→\s+203\.0\.113\.7", text)
    assert re.search(r"Lambda2\s+→\s+eni-2\s+→\s+no Elastic IP", text)
    # a part whose check did not run is left out, not shown empty
    page = html.render(report_of({fire: "pass"}))
    quiet = re.search(r'<section id="glance">.*?</section>', page, re.S)
    glance_text = quiet.group(0) if quiet else ""
    assert "Monthly cost" not in glance_text and "way out" not in glance_text
    assert "Monthly cost" not in page


def test_odd_shapes_from_aws_still_render() -> None:
    """Whatever the evidence looks like, the page renders: it is a view of the report and
    must never cost it (the plugin also writes the other reports first)."""
    fire, cost, eips = html.NEXT_FIRES, html.COST, html.EIP_CHECK
    report = report_of({fire: "fail", cost: "fail", eips: "fail", VPC: "fail"})
    check_of(report, fire).update(details=None, summary=None, advisories=None)
    check_of(report, cost).update(evidence=["not", "a", "mapping"], actual="n/a")
    check_of(report, eips).update(actual="no interfaces", steps=["not a step", None])
    check_of(report, VPC).update(status="mystery", severity=None, differs=[1, 2])
    report["run"]["duration_s"] = None
    page = html.render(report)
    assert "mystery" in page and "verdict:" in page


def test_the_verdicts_colour_is_the_runs_exit_status() -> None:
    """An interrupted run whose checks all passed ended could-not-check: so says its colour."""
    report = report_of({VPC: "pass"})
    report["run"].update(exit_status=2, interrupted=True)
    page = html.render(report)
    assert '<p class="verdict could-not-check" id="verdict">verdict: could-not-check' in page


def blamed_report() -> dict[str, Any]:
    """The failing report as ``--blame`` leaves it: who last wrote to the VPC, and a name
    (from AWS, so any text) that must stay text."""
    report = failing_report()
    check_of(report, VPC)["changed_by"] = {
        "names": ["vpc-0abc"],
        "changes": [
            {
                "resource": "vpc-0abc",
                "when": "2026-12-03T08:53:09+00:00",
                "who": "mallory<img>",
                "identity": "arn:aws:iam::123456789012:user/mallory",
                "call": "ec2:ModifyVpcAttribute",
                "source_ip": "192.0.2.1",
                "event_id": "e1",
            }
        ],
        "note": None,
    }
    check_of(report, ROOT_KEYS)["changed_by"] = None  # could not check: never looked up
    report["blame"] = {"lookups": 1, "note": None}
    return report


def test_blame_shows_who_changed_the_failing_resource_in_the_browser(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_text(html.render(blamed_report()))
    dom = browse(path)
    failure = dom[dom.index('id="failures"') : dom.index('id="sections"')]
    assert "last changed (CloudTrail)" in failure
    row = failure[failure.index("2026-12-03T08:53:09+00:00") :]
    assert row.index("mallory&lt;img&gt;") < row.index("ec2:ModifyVpcAttribute")
    assert "<img>" not in dom
    assert "1 CloudTrail look-up(s)" in dom  # in the header: how many were made


def test_without_blame_there_is_no_changed_part() -> None:
    page = html.render(failing_report())
    assert "last changed" not in page and "CloudTrail" not in page
