"""What an operator sees on a lab with three faults: one perform repairs, one only a person can
(perform shows how), one accepted by a waiver. Each failure is told once with what to do; a dry
run prints the plan with its calls; a real perform tells its steps as it goes; a waiver in force
keeps its check reported but the run healthy, and one past its date fails the run and says so,
in every report: terminal, summary.json, summary.md, JUnit and allure."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbook.lab import build
from runbook.profile import Profile
from runbook.run import Run

from .conftest import break_lab, runbook_pytest

pytestmark = pytest.mark.lab

REPAIRED = ("rule_left_disabled", "rule_fires_hourly_and_is_enabled", "trigger")
MANUAL = ("administrator_access_on_the_user", "iam_user_has_no_policies_of_its_own", "iam")
WAIVED = (
    "database_group_admits_another_group",
    "database_sg_admits_only_mysql_from_itself_and_access_host",
    "security_groups",
)


@pytest.fixture
def three_faults(built_lab: Run, lab_profile: Profile, lab_url: str) -> Iterator[None]:
    break_lab(lab_profile, (REPAIRED[0], MANUAL[0], WAIVED[0]))
    yield
    build.build(lab_profile, lab_url)


def _waivers(tmp_path: Path, expires: str) -> Path:
    path = tmp_path / f"waivers-{expires}.toml"
    path.write_text(
        "[[waiver]]\n"
        f'check = "{WAIVED[1]}"\n'
        'justification = "the VPC default group reaches MySQL until the migration, OPS-42"\n'
        'approved_by = "alice@example.com"\n'
        f"expires = {expires}\n"
    )
    return path


def test_failures_plan_and_progress_as_the_operator_sees_them(
    three_faults: None, lab_env: dict[str, str], tmp_path: Path
) -> None:
    waivers = _waivers(tmp_path, "2999-01-01")
    code, out, summary = runbook_pytest([f"--waivers={waivers}"], lab_env, tmp_path / "verify")
    assert code == 1, out[-3000:]
    # each failure once, under its id, with its severity, resource, what differs and the fix
    for check_id, section in ((REPAIRED[1], REPAIRED[2]), (MANUAL[1], MANUAL[2])):
        assert out.count(f"{section}/{check_id}:") == 1, out[-4000:]
    assert "_____" not in out  # no pytest failure sections repeating them
    lines = out.splitlines()
    rule = lines.index(next(x for x in lines if x.startswith(f"FAIL (high) trigger/{REPAIRED[1]}")))
    assert lines[rule + 1] == "    resource: rule WikidotNotifierExecutor (eu-west-2)"
    assert lines[rule + 2] == '    differs: state: expected "ENABLED", actual "DISABLED"'
    assert lines[rule + 4] == "    console: EventBridge > Rules"
    assert lines[rule + 5].startswith("    fix: notifier-runbook perform --profile ")
    assert lines[rule + 5].endswith(" -m trigger (--dry-run first shows the calls)")
    user = lines.index(next(x for x in lines if x.startswith(f"FAIL (high) iam/{MANUAL[1]}")))
    assert lines[user + 2] == '    differs: extra ["AdministratorAccess"]'
    assert "fix: notifier-runbook perform" not in lines[user + 5]  # nothing perform can do
    assert lines[user + 5].startswith("      by hand: detach AdministratorAccess from the user")
    # the waived one is reported, not as a failure
    assert f"WAIVED {WAIVED[2]}/{WAIVED[1]}: fails, waived until 2999-01-01" in out
    assert "verdict: unhealthy (exit status 1); 1 waived" in out
    assert summary["waivers"]["applied"] == [WAIVED[1]]

    code, out, dry = runbook_pytest(
        ["--mode", "perform", "--dry-run", f"--waivers={waivers}"], lab_env, tmp_path / "dry"
    )
    plan = out[out.index("perform plan (dry run, nothing changed):") :]
    assert "1. trigger/rule_fires_hourly_and_is_enabled: put rule WikidotNotifierExecutor" in plan
    assert "     events PutRule Name=WikidotNotifierExecutor" in plan
    assert "manual steps (perform does not do these): 1\n- iam/" in plan
    assert "done" not in plan and "performed" not in out
    assert dry["mutating_calls"] == {}

    code, out, done = runbook_pytest(
        ["--mode", "perform", f"--waivers={waivers}"], lab_env, tmp_path / "perform"
    )
    assert "trigger/rule_fires_hourly_and_is_enabled: put rule WikidotNotifierExecutor" in out
    assert "\n   done\n" in out
    assert "perform: 1 of 1 step(s) done:" in out
    assert done["mutating_calls"] == {"events:PutRule": 1}  # the waived rule stays, as accepted


def _reports(out: Path) -> tuple[dict, str, ET.Element, list[dict]]:
    allure = [json.loads(p.read_text()) for p in (out / "allure-results").glob("*-result.json")]
    junit = ET.parse(out / "junit.xml").getroot()
    return (
        json.loads((out / "summary.json").read_text()),
        (out / "summary.md").read_text(),
        junit,
        allure,
    )


def _junit_case(junit: ET.Element, check_id: str) -> ET.Element:
    """The check's own test case: named by its id, in its section's class."""
    return next(c for c in junit.iter("testcase") if c.get("name") == check_id)


def test_a_waiver_in_force_and_one_past_its_date_in_every_report(
    built_lab: Run, lab_profile: Profile, lab_url: str, lab_env: dict[str, str], tmp_path: Path
) -> None:
    break_lab(lab_profile, (WAIVED[0],))
    try:
        code, out, _ = runbook_pytest(
            ["-m", WAIVED[2], f"--waivers={_waivers(tmp_path, '2999-01-01')}"],
            lab_env,
            tmp_path / "in-force",
        )
        assert code == 0, out[-3000:]  # reported, but the run is healthy
        assert f"WAIVED {WAIVED[2]}/{WAIVED[1]}" in out
        summary, markdown, junit, allure = _reports(tmp_path / "in-force")
        check = next(c for s in summary["sections"] for c in s["checks"] if c["id"] == WAIVED[1])
        assert check["status"] == "waived" and check["waiver"]["approved_by"] == "alice@example.com"
        assert f"- WAIVED {WAIVED[2]}/{WAIVED[1]}: fails, waived until 2999-01-01" in markdown
        case = _junit_case(junit, WAIVED[1])
        assert case.get("classname") == f"notifier.{WAIVED[2]}"
        skipped = case.find("skipped")
        assert skipped is not None and skipped.get("message", "").startswith("waived: fails")
        assert any(r["status"] == "skipped" and "waived" in json.dumps(r) for r in allure)

        code, out, _ = runbook_pytest(
            ["-m", WAIVED[2], f"--waivers={_waivers(tmp_path, '2020-01-01')}"],
            lab_env,
            tmp_path / "expired",
        )
        assert code == 1, out[-3000:]  # it applies no more: the check fails the run again
        assert "EXPIRED waiver for database_sg_admits_only_mysql_from_itself_and_access_host" in out
        summary, markdown, junit, allure = _reports(tmp_path / "expired")
        check = next(c for s in summary["sections"] for c in s["checks"] if c["id"] == WAIVED[1])
        assert check["status"] == "fail" and check["waiver"]["expired"] is True
        assert "(its waiver expired on 2020-01-01)" in check["summary"]
        assert "its waiver expired on 2020-01-01" in markdown
        failure = _junit_case(junit, WAIVED[1]).find("failure")
        assert failure is not None and "expired on 2020-01-01" in failure.get("message", "")
        assert any(
            r["status"] == "failed" and "expired on 2020-01-01" in json.dumps(r) for r in allure
        )
    finally:
        build.build(lab_profile, lab_url)
