"""The lab built by perform is healthy, verify proves it read-only, perform converges."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from runbook.aws.session import is_read
from runbook.findings import Status
from runbook.lab.build import perform
from runbook.lab.host_faults import ACCESS, DB_HOST
from runbook.profile import Profile
from runbook.run import Run

from .conftest import LAB_PROFILE, ROOT, runbook_pytest, verify

pytestmark = pytest.mark.lab


def test_built_lab_passes_every_check_of_its_variants(built_lab: Run, lab_profile: Profile) -> None:
    run = verify(lab_profile)
    bad = {
        cid: f.summary
        for cid, f in run.findings.items()
        if f.status not in (Status.PASS, Status.SKIP)
    }
    assert bad == {}
    skipped = {
        f.section
        for cid, f in run.findings.items()
        if f.status == Status.SKIP and cid not in DB_HOST | ACCESS
    }
    # other variants only (the access section: the endpoint's and Session Manager's checks)
    assert skipped == {"database_aurora", "database_access", "egress", "redeployment"}
    assert all(
        f.summary.startswith(("not in this variant", "opt-in"))  # or the probe, not asked
        for cid, f in run.findings.items()
        if f.status == Status.SKIP and cid not in DB_HOST | ACCESS
    )
    # the database instance is stopped, as between the hourly runs (test_hosts starts it)
    host_checks = DB_HOST | ACCESS
    assert {c for c in host_checks if run.findings[c].status == Status.SKIP} == host_checks
    assert run.mutating_calls() == {}
    assert run.session.log.mutating() == {}


def test_second_perform_makes_no_mutating_call(built_lab: Run, lab_profile: Profile) -> None:
    run = Run(lab_profile, mode="perform")
    assert perform(run) == []
    assert [f.check_id for f in run.findings.values() if f.steps] == []
    assert run.mutating_calls() == {}


def test_pytest_verify_run_writes_the_report(lab_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "reports"
    # the trend of the last allure report generated beside the results (`allure generate`)
    (out / "allure-report" / "history").mkdir(parents=True)
    (out / "allure-report" / "history" / "history-trend.json").write_text('[{"x": 1}]')
    code, output, summary = runbook_pytest([], lab_env, out)
    assert code == 0, output[-5000:]
    assert "notifier deployment health" in output
    assert "verdict: healthy (exit status 0)" in output
    assert [s["id"] for s in summary["sections"]][:3] == ["costs", "iam", "vpc"]
    statuses = {s["id"]: s["status"] for s in summary["sections"]}
    assert statuses["database_aurora"] == "skip"
    assert {v for k, v in statuses.items() if k != "database_aurora"} <= {"pass", "skip"}
    assert summary["mutating_calls"] == {}
    # every call a read (Describe/Get/List/Filter, and IAM's policy simulation)
    assert all(is_read(*k.split(":")) for k in summary["aws_calls"])
    # one per role (function, state machine, rule's target) and one for the group's ECR push
    assert summary["aws_calls"]["iam:SimulatePrincipalPolicy"] == 4
    trigger = next(s for s in summary["sections"] if s["id"] == "trigger")
    fire = trigger["checks"][0]["details"]["next_fire_times"]
    assert len(fire) == 3 and all(t.endswith(":00 UTC") for t in fire)
    assert (out / "summary.md").read_text().startswith("# Notifier deployment health")
    assert (out / "junit.xml").exists()
    assert list((out / "allure-results").glob("*-result.json"))
    assert json.loads((out / "inventory.json").read_text())
    # JUnit: one class per section, the check id as the test case's name
    cases = list(ET.parse(out / "junit.xml").getroot().iter("testcase"))
    ids = {c["id"]: s["id"] for s in summary["sections"] for c in s["checks"]}
    assert {c.get("name"): c.get("classname") for c in cases} == {
        check: f"notifier.{section}" for check, section in ids.items()
    }
    # each check under its guide step (the scenario's When), in summary.json and allure
    steps = {c["id"]: c["step"]["id"] for s in summary["sections"] for c in s["checks"]}
    assert steps["rule_fires_hourly_and_is_enabled"] == "trigger.create_rule"
    assert all(step.split(".")[0] == ids[check] for check, step in steps.items())
    results = [json.loads(p.read_text()) for p in (out / "allure-results").glob("*-result.json")]
    stories = {label["value"] for r in results for label in r["labels"] if label["name"] == "story"}
    assert "the hourly rule is created with the runner as its target" in stories
    # allure: the trend carried over, a category for what could not be checked
    allure = out / "allure-results"
    assert (allure / "history" / "history-trend.json").read_text() == '[{"x": 1}]'
    assert "COULD NOT CHECK" in (allure / "categories.json").read_text()
    page = (out / "report.html").read_text()
    assert "verdict: healthy (exit status 0)" in page and len(page.encode()) < 1024 * 1024
    assert f"report: {out}/report.html" in output


def test_one_section_by_marker(lab_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "reports"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            f"--profile={LAB_PROFILE}",
            "-m",
            "vpc",
            f"--reports-dir={out}",
        ],
        cwd=ROOT,
        env=lab_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    counts = {s["id"]: s["counts"] for s in summary["sections"]}
    assert counts["vpc"]["pass"] == 5
    assert counts["iam"] == {
        "pass": 0,
        "fail": 0,
        "error": 0,
        "skip": 0,
        "waived": 0,
        "not_selected": 4,
    }
    status = {s["id"]: s["status"] for s in summary["sections"]}
    assert status["iam"] == "not_selected" and status["vpc"] == "pass"
    # the table and the verdict say what -m left out, not "skip"
    assert re.search(r"\nCreating an IAM user +not selected *\n", proc.stdout)
    assert "for the sections selected (vpc); 15 not selected" in proc.stdout
    assert set(summary["aws_calls"]) <= {
        "sts:GetCallerIdentity",  # the preflight: who the run is, before any check
        "secretsmanager:GetSecretValue",  # its values known to the redaction, whatever runs
        "ec2:DescribeVpcs",
        "ec2:DescribeSubnets",
        "ec2:DescribeRouteTables",
        "ec2:DescribeInternetGateways",
    }


def test_pytest_perform_dry_run_then_perform(
    lab_env: dict[str, str], tmp_path: Path, lab_profile: Profile
) -> None:
    from runbook.aws.inventory import Inventory
    from runbook.aws.session import open_session
    from runbook.lab.faults import FAULTS, World

    FAULTS["rule_left_disabled"].apply(
        World(
            open_session(lab_profile.region, writable=True),
            Inventory(open_session(lab_profile.region)),
            lab_profile,
        )
    )

    code, out, dry = runbook_pytest(
        ["--mode", "perform", "--dry-run", "-m", "trigger"], lab_env, tmp_path / "dry"
    )
    assert code == 1, out[-2000:]
    assert dry["mutating_calls"] == {}
    says = "put rule WikidotNotifierExecutor on cron(0 * * * ? *), ENABLED"
    put = "events PutRule Name=WikidotNotifierExecutor ScheduleExpression=cron(0 * * * ? *) "
    put += "State=ENABLED"
    assert dry["plan"] == [
        {
            "section": "trigger",
            "id": "rule_fires_hourly_and_is_enabled",
            "says": says,
            "calls": [put],
            "state": "planned",
        }
    ]
    # the plan in the terminal, numbered with its calls; nothing called done
    assert "perform plan (dry run, nothing changed):\n" in out
    assert f"1. trigger/rule_fires_hourly_and_is_enabled: {says} [planned]\n     {put}\n" in out
    assert "done" not in out.split("perform plan")[1]

    code, out, done = runbook_pytest(
        ["--mode", "perform", "-m", "trigger"], lab_env, tmp_path / "do"
    )
    assert code == 0, out[-2000:]
    assert done["mutating_calls"] == {"events:PutRule": 1}
    assert done["lease_calls"] == {"ssm:DeleteParameter": 1, "ssm:PutParameter": 1}
    fixed = next(
        c
        for s in done["sections"]
        for c in s["checks"]
        if c["id"] == "rule_fires_hourly_and_is_enabled"
    )
    assert fixed["status"] == "pass"
    assert [st["state"] for st in fixed["steps"]] == ["applied"]
    # the step told as it was applied, then the summary
    assert f"1. trigger/rule_fires_hourly_and_is_enabled: {says}\n   done\n" in out
    assert "perform: 1 of 1 step(s) done:" in out

    code, out, again = runbook_pytest(["--mode", "perform"], lab_env, tmp_path / "again")
    assert code == 0, out[-2000:]
    assert again["mutating_calls"] == {} and again["plan"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--profile", "profiles/nope.toml"], "profile not found"),
        (["--dry-run"], "--dry-run needs --mode perform"),
    ],
)
def test_usage_errors_exit_4_in_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *args, f"--reports-dir={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 4
    assert message in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (tmp_path / "summary.json").exists()


def test_perform_converges_in_one_pass_after_a_grouped_egress_rule(
    built_lab: Run, lab_profile: Profile
) -> None:
    """Revoking a rule that carries 0.0.0.0/0 with ::/0 must not lose HTTP to 0.0.0.0/0."""
    from runbook.aws.inventory import Inventory
    from runbook.aws.session import open_session
    from runbook.lab.faults import FAULTS, World

    FAULTS["internet_group_http_egress_also_ipv6"].apply(
        World(
            open_session(lab_profile.region, writable=True),
            Inventory(open_session(lab_profile.region)),
            lab_profile,
        )
    )
    first = Run(lab_profile, mode="perform")
    assert perform(first) == []
    second = Run(lab_profile, mode="perform")
    perform(second)
    assert second.mutating_calls() == {}


def test_the_simulation_is_kept_read_next_time_and_ignored_with_no_cache(
    lab_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**lab_env, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    kept = tmp_path / "cache" / "notifier-runbook" / "simulation"
    check = "state_machine_runs_leave_database_stopped"

    def verdict(*args: str) -> str:
        code, output, summary = runbook_pytest(
            ["-m", "step_functions", *args], env, tmp_path / "reports"
        )
        assert summary, output[-3000:]
        status = next(c for s in summary["sections"] for c in s["checks"] if c["id"] == check)
        assert code == {"pass": 0, "fail": 1}[status["status"]], output[-3000:]
        return status["status"]

    assert verdict() == "pass"
    (entry,) = kept.glob("*.json")
    # the next run answers from the entry: a doctored one (the database left running on the
    # happy path) is what it judges, proving the simulation was not made again
    runs = json.loads(entry.read_text())
    happy = next(r for r in runs if r["scenario"] == "happy-path")
    happy["final_instance_state"] = "running"
    entry.write_text(json.dumps(runs))
    assert verdict() == "fail"
    # --no-cache simulates afresh and neither reads nor rewrites the entry
    assert verdict("--no-cache") == "pass"
    assert json.loads(entry.read_text()) == runs


def test_prefetching_changes_no_verdict_and_no_call(built_lab: Run, lab_profile: Profile) -> None:
    from runbook.registry import checks_in_guide_order

    at_once = verify(lab_profile, start_database=True)  # reads prefetched by threads
    in_order = Run(lab_profile, start_database=True)
    try:
        for check in checks_in_guide_order():
            in_order.check(check)
    finally:
        in_order.close()
    assert {k: f.status for k, f in at_once.findings.items()} == {
        k: f.status for k, f in in_order.findings.items()
    }
    assert {k: f.summary for k, f in at_once.findings.items()} == {
        k: f.summary for k, f in in_order.findings.items()
    }
    assert at_once.aws_calls() == in_order.aws_calls()
