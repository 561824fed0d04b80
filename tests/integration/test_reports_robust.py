"""A full reports folder never changes the verdict: the healthy lab stays exit 0, each report
file is whole or absent (never a truncated summary.json for CI to read), and one line says
which could not be written. The folder is a real, tiny tmpfs filled up, not a mock."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from checks import lookup as L
from runbook.aws.inventory import Inventory
from runbook.aws.session import open_session
from runbook.lab import build
from runbook.profile import Profile
from runbook.run import Run
from tests.webhook import serve

from .conftest import LAB_PROFILE, ROOT, runbook_pytest

pytestmark = pytest.mark.lab


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 96 KiB file system: room for the run to start, not for all its reports."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_reports_folder_keeps_the_verdict_and_says_what_was_not_written(
    built_lab: Run, lab_env: dict[str, str], small_disk: Path
) -> None:
    out = small_disk / "reports"
    code, output, _ = runbook_pytest(["-m", "not hosts"], lab_env, out)
    assert code == 0, output[-3000:]
    assert "INTERNALERROR" not in output and "Traceback" not in output
    assert "verdict: healthy" in output
    assert "WARNING: could not write" in output and "No space left on device" in output
    for name in ("summary.json", "inventory.json"):
        path = out / name
        if path.exists():  # whole, or not there at all
            json.loads(path.read_text())
    assert not [p.name for p in out.glob(".*.tmp")]


def test_a_selection_that_matches_nothing_is_a_usage_error_and_leaves_the_reports(
    built_lab: Run, lab_env: dict[str, str], tmp_path: Path
) -> None:
    """Valid markers that select no check (-m "vpc and iam"): not pytest's exit 5 after
    wiping allure-results and emptying junit.xml, but one line, exit 4, the reports kept."""
    out = tmp_path / "reports"
    code, output, _ = runbook_pytest(["-m", "trigger"], lab_env, out)
    assert code == 0, output[-3000:]
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert any("allure-results" in str(p) for p in before) and out / "junit.xml" in before

    code, output, _ = runbook_pytest(["-m", "vpc and iam"], lab_env, out)
    assert code == 4, output[-3000:]
    line = next(x for x in output.splitlines() if x.startswith("usage error"))
    assert "no check selected by -m 'vpc and iam'" in line and str(out) in line
    assert "Traceback" not in output and "Exit:" not in output
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_two_runs_sharing_a_reports_folder_record_both_and_announce_a_change_once(
    built_lab: Run, lab_profile: Profile, lab_env: dict[str, str], tmp_path: Path
) -> None:
    """A retried CI job next to the cron one: both see the database left running (a new
    failure). They take turns on the folder: two history lines, one announcement."""
    reports = tmp_path / "reports"
    instance = L.db_instance(Inventory(open_session(lab_profile.region)), lab_profile)
    ec2 = build.lab_hand(lab_profile).client("ec2")
    ec2.start_instances(InstanceIds=[instance["InstanceId"]])
    try:
        with serve() as hook:
            env = {**lab_env, "RUNBOOK_WEBHOOK_URL": hook.url}
            command = [
                *(sys.executable, "-m", "pytest", f"--profile={LAB_PROFILE}"),
                *("-m", "smoke", f"--reports-dir={reports}"),
            ]
            runs = [
                subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
                for _ in range(2)
            ]
            outputs = [r.communicate(timeout=300)[0] for r in runs]
            assert [r.returncode for r in runs] == [1, 1], outputs
            assert len(hook.received) == 1, [h["json"] for h in hook.received]
        lines = (reports / "history.jsonl").read_text().splitlines()
        assert len(lines) == 2
        assert sum("1 new failure" in o for o in outputs) == 1, outputs
    finally:
        ec2.stop_instances(InstanceIds=[instance["InstanceId"]])
