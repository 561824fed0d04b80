"""A fleet of 20 deployments on the lab, verified in one process as an operator runs it
(``notifier-runbook verify --fleet``): identities of their own (named AWS profiles, roles into
the lab's account and into another, an endpoint that does not answer), overrides, tags; the
fleet's verdicts agree with single verifies, the reads of one account are made once, and the
sharded and merged run reads as the single one."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from runbook.errors import ExitStatus

from .conftest import LAB_PROFILE, ROOT, runbook_pytest

pytestmark = pytest.mark.lab

CLI = Path(sys.executable).with_name("notifier-runbook")
LAB = LAB_PROFILE
OTHER_ACCOUNT = "111122223333"  # moto keeps each account apart: nothing is deployed there
BUDGET = "monthly_cost_estimate_within_budget"
SHARED = [f"shared-{i:02d}" for i in range(12)]  # the lab's own identity: reads made once
OWN = [f"own-{i}" for i in range(4)]  # a named AWS profile each: reads of their own


@pytest.fixture
def fleet(tmp_path: Path, closed_port: str, lab_env: dict[str, str]) -> tuple[Path, dict]:
    """The fleet file and the environment it is run in (its AWS config file)."""
    config = tmp_path / "aws-config"
    config.write_text(
        "".join(f"[profile {n}]\naws_access_key_id = {n}\naws_secret_access_key = x\n" for n in OWN)
        # a profile that assumes a role of another account itself (AWS's config, not ours)
        + "[profile elsewhere]\nsource_profile = own-0\n"
        f"role_arn = arn:aws:iam::{OTHER_ACCOUNT}:role/NotifierChecker\n"
    )
    lines = [f'[defaults]\nprofile = "{LAB}"\ntags = ["lab"]\n']
    for i, name in enumerate(SHARED):
        tags = ["eu", "prod"] if i % 2 else ["eu", "test"]
        lines.append(f'[[deployment]]\nname = "{name}"\ntags = {json.dumps(tags)}\n')
    for name in OWN:
        lines.append(f'[[deployment]]\nname = "{name}"\naws_profile = "{name}"\n')
    lines += [
        '[[deployment]]\nname = "role-here"\n'
        'role_arn = "arn:aws:iam::123456789012:role/NotifierChecker"\n',
        '[[deployment]]\nname = "role-elsewhere"\naws_profile = "elsewhere"\n',
        '[[deployment]]\nname = "over-budget"\ntags = ["prod"]\n'
        "[deployment.overrides]\ncosts = { budget_usd_month = 0.5 }\n",
        f'[[deployment]]\nname = "unreachable"\nendpoint_url = "{closed_port}"\n'
        "[deployment.overrides]\ntimeouts = { connect_s = 1, max_attempts = 1 }\n",
    ]
    path = tmp_path / "fleet.toml"
    path.write_text("\n".join(lines))
    return path, {**lab_env, "AWS_CONFIG_FILE": str(config)}


def notifier_runbook(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CLI), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def matrix(fleet: dict) -> list[dict]:
    """The fleet summary without what differs between two runs of it (timing, folders)."""
    return [
        {k: v for k, v in row.items() if k not in ("folder", "duration_s")}
        for row in fleet["deployments"]
    ]


def statuses(summary: dict) -> dict[str, tuple[str, str]]:
    return {c["id"]: (c["status"], c["summary"]) for s in summary["sections"] for c in s["checks"]}


def test_a_fleet_of_twenty_is_verified_in_one_process_as_twenty_single_runs(
    fleet: tuple[Path, dict], tmp_path: Path
) -> None:
    path, env = fleet
    out = tmp_path / "reports"
    proc = notifier_runbook(["verify", "--fleet", str(path), f"--reports-dir={out}"], env)
    output = proc.stdout + proc.stderr
    assert proc.returncode == ExitStatus.UNHEALTHY, output  # the worst: a fail beats an error
    assert "Traceback" not in output
    assert output.splitlines()[-1].startswith("fleet verdict: unhealthy (exit status 1)")
    summary = json.loads((out / "fleet.json").read_text())
    rows = {r["name"]: r for r in summary["deployments"]}
    assert len(rows) == 20
    assert summary["counts"] == {"healthy": 17, "unhealthy": 2, "could-not-check": 1}

    # One user verifying the lab alone, as pytest does: the reference for every healthy one.
    code, said, single = runbook_pytest([], env, tmp_path / "single")
    assert code == ExitStatus.HEALTHY, said
    for name in [*SHARED, *OWN, "role-here"]:
        assert rows[name]["verdict"] == "healthy", rows[name]
        report = json.loads((out / name / "summary.json").read_text())
        assert statuses(report) == statuses(single), name
        assert report["run"]["deployment"]["name"] == name
        assert report["mutating_calls"] == {}
        assert len((out / name / "history.jsonl").read_text().splitlines()) == 1
        assert (out / name / "report.html").exists()
    assert rows["role-here"]["account"] == "123456789012"
    assert rows["role-elsewhere"]["account"] == OTHER_ACCOUNT  # the named profile's own role
    assert rows["role-elsewhere"]["verdict"] == "unhealthy"
    assert rows["over-budget"]["failing"] == [BUDGET]
    assert rows["unreachable"]["cause"].startswith("could not check (as endpoint_url http://")
    assert not (out / "unreachable").exists()

    # The shared identity's reads are made once for its twelve deployments; the others' each.
    def calls(name: str) -> int:
        return sum(json.loads((out / name / "summary.json").read_text())["aws_calls"].values())

    alone = sum(single["aws_calls"].values())
    assert sum(calls(n) for n in SHARED) < 2 * alone
    assert all(calls(n) >= alone - 5 for n in OWN)

    # The page: a row per deployment, each linked to its own report.
    page = (out / "fleet.html").read_text()
    assert page.count('<tr data-verdict="') == 20
    assert 'href="over-budget/report.html"' in page

    # Shards of it, merged: the same summary as the single run.
    shards = []
    for k in (1, 2, 3):
        shard = tmp_path / f"shard-{k}"
        proc = notifier_runbook(
            ["verify", "--fleet", str(path), "--shard", f"{k}/3", f"--reports-dir={shard}"], env
        )
        part = json.loads((shard / "fleet.json").read_text())
        assert proc.returncode == part["exit_status"], proc.stdout + proc.stderr
        assert part["run"]["shards"] == [f"{k}/3"]
        shards.append(shard)
    merged_dir = tmp_path / "merged"
    proc = notifier_runbook(["merge", *map(str, shards), f"--reports-dir={merged_dir}"], env)
    merged = json.loads((merged_dir / "fleet.json").read_text())
    assert proc.returncode == summary["exit_status"] == merged["exit_status"]
    assert matrix(merged) == matrix(summary)
    assert merged["counts"] == summary["counts"]
    for row in merged["deployments"]:  # the links reach each shard's own report
        if row["cause"] is None:
            assert (merged_dir / row["folder"] / "report.html").exists(), row["folder"]


def test_a_fleet_chooses_by_name_and_tag_and_keeps_each_history(
    fleet: tuple[Path, dict], tmp_path: Path
) -> None:
    path, env = fleet
    out = tmp_path / "reports"
    args = ["verify", "--fleet", str(path), f"--reports-dir={out}", "-m", "iam or vpc"]
    proc = notifier_runbook([*args, "--tag", "prod", "--tag", "eu"], env)
    assert proc.returncode == ExitStatus.HEALTHY, proc.stdout + proc.stderr
    first = json.loads((out / "fleet.json").read_text())
    assert [r["name"] for r in first["deployments"]] == SHARED[1::2]
    assert {
        s for r in first["deployments"] for s, v in r["sections"].items() if v != "not_selected"
    } == {
        "iam",
        "vpc",
    }
    proc = notifier_runbook([*args, "--deployment", SHARED[1], "--deployment", "over-budget"], env)
    assert proc.returncode == ExitStatus.HEALTHY, proc.stdout + proc.stderr  # costs not selected
    assert len((out / SHARED[1] / "history.jsonl").read_text().splitlines()) == 2
    assert len((out / SHARED[3] / "history.jsonl").read_text().splitlines()) == 1
    assert len((out / "over-budget" / "history.jsonl").read_text().splitlines()) == 1


def test_a_fleet_ended_by_term_reports_what_it_checked(
    fleet: tuple[Path, dict], tmp_path: Path
) -> None:
    """TERM (cron's, a CI job's time-out) ends the fleet as Ctrl-C does, however many signals
    follow: the runs under way stop at their next read or check and write their reports marked
    interrupted; the others say they were not
    begun; the summary is written, could-not-check at best."""
    path, env = fleet
    out = tmp_path / "reports"
    proc = subprocess.Popen(
        [str(CLI), "verify", "--fleet", str(path), f"--reports-dir={out}", "--concurrency", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("[1/20]"):
            proc.send_signal(signal.SIGTERM)
            proc.send_signal(signal.SIGINT)  # a CI cancel's second word changes nothing
            break
    rest = proc.stdout.read()
    code = proc.wait(timeout=120)
    output = "".join(seen) + rest
    assert code == ExitStatus.COULD_NOT_CHECK, output
    assert "Traceback" not in output
    summary = json.loads((out / "fleet.json").read_text())
    assert summary["run"]["interrupted"] is True
    causes = [r["cause"] for r in summary["deployments"]]
    assert len(summary["deployments"]) == 20
    assert any(c and "interrupted before it began" in c for c in causes), causes
    done = [r["name"] for r in summary["deployments"] if r["cause"] is None]
    assert done, output
    for name in done:
        report = json.loads((out / name / "summary.json").read_text())
        if report["run"]["interrupted"]:  # half a run is reported, never recorded
            assert not (out / name / "history.jsonl").exists()
