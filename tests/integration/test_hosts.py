"""The host checks against the lab's real sshd and MariaDB: healthy, each fault caught by the
right check, access problems as could-not-check, and the stopped database handled safely."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from checks import lookup as L
from runbook.aws.inventory import Inventory
from runbook.aws.session import open_session
from runbook.findings import Status
from runbook.lab.host_faults import ACCESS, DB_HOST, HOST_FAULTS, HostLab
from runbook.profile import Profile
from runbook.registry import checks_in_guide_order
from runbook.run import Run

from .conftest import LAB_PROFILE, LAB_SSH, ROOT, proxied
from .conftest import verify as verify_lab

pytestmark = pytest.mark.lab
HOST_CHECKS = DB_HOST | ACCESS


def verify(profile: Profile, *, start: bool = True) -> Run:
    return verify_lab(profile, start_database=start)


def db_state(profile: Profile) -> str:
    inst = L.db_instance(Inventory(open_session(profile.region)), profile)
    return inst["State"]["Name"]


@pytest.fixture(scope="module")
def baseline(built_lab: Run, lab_profile: Profile) -> dict[str, Status]:
    return {cid: f.status for cid, f in verify(lab_profile).findings.items()}


@pytest.fixture
def host_lab(lab_state: Path, lab_profile: Profile) -> HostLab:
    return HostLab(lab_state, lab_profile, open_session(lab_profile.region, writable=True))


def test_healthy_lab_passes_every_host_check(
    baseline: dict[str, Status], lab_profile: Profile
) -> None:
    assert {c: baseline[c] for c in HOST_CHECKS} == dict.fromkeys(HOST_CHECKS, Status.PASS)
    assert db_state(lab_profile) in ("stopping", "stopped")


@pytest.mark.parametrize("name", sorted(HOST_FAULTS))
def test_host_fault_caught_by_the_right_checks(
    name: str, host_lab: HostLab, lab_profile: Profile, baseline: dict[str, Status]
) -> None:
    fault = HOST_FAULTS[name]
    saved = fault.apply(host_lab)
    try:
        after = verify(lab_profile).findings
    finally:
        fault.undo(host_lab, saved)
    changed = {cid: f.status for cid, f in after.items() if f.status != baseline[cid]}
    expected = {c: Status.FAIL for c in fault.breaks} | {c: Status.ERROR for c in fault.errors}
    assert changed == expected, {c: after[c].summary for c in changed}
    for cid in fault.errors:
        assert after[cid].summary.startswith("could not check")
    assert db_state(lab_profile) in ("stopping", "stopped")


def test_wrong_version_expected_fails_the_version_checks(
    built_lab: Run, lab_profile: Profile, baseline: dict[str, Status]
) -> None:
    older = lab_profile.model_copy(
        update={"database": lab_profile.database.model_copy(update={"mysql_version": "8.0.33"})}
    )
    after = verify(older).findings
    changed = {cid for cid, f in after.items() if f.status != baseline[cid]}
    assert changed == {
        "database_host_mysql_installed_at_profile_version",
        "notifier_logs_in_through_access_host_at_profile_version",
    }
    assert all(after[c].status == Status.FAIL for c in changed)


def test_stopped_database_skips_every_host_check_without_the_start_option(
    built_lab: Run, lab_profile: Profile
) -> None:
    run = verify(lab_profile, start=False)
    for cid in HOST_CHECKS:
        assert run.findings[cid].status == Status.SKIP
        assert "--start-database" in run.findings[cid].summary
    assert run.mutating_calls() == {}
    assert db_state(lab_profile) == "stopped"


def test_start_option_starts_checks_and_stops_the_database_again(
    built_lab: Run, lab_profile: Profile
) -> None:
    run = verify(lab_profile)
    assert all(run.findings[c].status == Status.PASS for c in DB_HOST)
    assert run.mutating_calls() == {"ec2:StartInstances": 1, "ec2:StopInstances": 1}
    assert db_state(lab_profile) in ("stopping", "stopped")


def test_the_start_permit_covers_only_the_database_instance(
    built_lab: Run, lab_profile: Profile
) -> None:
    from runbook.errors import ReadOnlyViolation

    run = Run(lab_profile, start_database=True)
    try:
        run.check(next(c for c in checks_in_guide_order() if c.id in DB_HOST))
        other = L.access_host(run.inventory, lab_profile)["InstanceId"]
        with pytest.raises(ReadOnlyViolation):
            run.session.client("ec2").stop_instances(InstanceIds=[other])
    finally:
        run.close()


SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
PYTEST = [sys.executable, "-m", "pytest", f"--profile={LAB_PROFILE}"]
CLI = [
    str(Path(sys.executable).with_name("notifier-runbook")),
    *("verify", "--profile", str(LAB_PROFILE)),
]


@pytest.mark.parametrize("how", ["pytest", "cli"])
@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
def test_interrupted_run_stops_the_database_it_started_and_reports_what_it_checked(
    how: str,
    signum: signal.Signals,
    lab_env: dict[str, str],
    lab_profile: Profile,
    tmp_path: Path,
) -> None:
    """The signal goes to the process the user started: pytest itself, or the CLI, which
    runs pytest as its child (and once let the child be killed before it stopped the
    database, or left it running orphaned)."""
    first = PYTEST if how == "pytest" else CLI
    output = tmp_path / "output.txt"  # what the run said, shown when the test fails
    with (
        output.open("w") as said,
        subprocess.Popen(
            [
                *first,
                "--start-database",
                f"--reports-dir={tmp_path}",
                *(["--"] if how == "cli" else []),
                "-p",
                "tests.integration.slow_hosts",
            ],
            cwd=ROOT,
            env=lab_env,
            stdout=said,
            stderr=subprocess.STDOUT,
            # as a terminal starts it: a test run started in the background (`make test &`)
            # ignores SIGINT, and its children would inherit that
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        ) as proc,
    ):
        try:
            deadline = time.monotonic() + 60
            while db_state(lab_profile) != "running":
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
            proc.send_signal(signum)
            code = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
    assert db_state(lab_profile) in ("stopping", "stopped")
    summary = json.loads((tmp_path / "summary.json").read_text())
    tail = output.read_text()[-3000:]
    assert summary["run"]["interrupted"] is True, (code, summary["run"], tail)
    assert code == summary["run"]["exit_status"] == 2, tail  # not every check was made
    assert not (tmp_path / "history.jsonl").exists()  # half a run is neither news nor history


def _through_proxy(profile: Profile) -> Profile:
    return profile.model_copy(
        update={
            "hosts": profile.hosts.model_copy(
                update={"database_host": "notifier-db", "access_host": "notifier-access"}
            )
        }
    )


def test_hosts_reached_through_a_proxy_command(
    built_lab: Run,
    lab_profile: Profile,
    lab_state: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = tmp_path / "relay.log"
    relay = f"{sys.executable} -m runbook.lab.relay --to {LAB_SSH} --log {log} %h %p"
    monkeypatch.setenv("RUNBOOK_SSH_CONFIG", str(proxied(lab_state, tmp_path, relay)))
    run = verify(_through_proxy(lab_profile))
    assert {c: run.findings[c].status for c in HOST_CHECKS} == dict.fromkeys(
        HOST_CHECKS, Status.PASS
    )
    assert set(log.read_text().split()) == {"notifier-db:22", "notifier-access:22"}


def test_a_failing_proxy_command_is_could_not_check_in_one_line(
    built_lab: Run,
    lab_profile: Profile,
    lab_state: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    missing = "aws-not-installed ec2-instance-connect open-tunnel --instance-id %h"
    monkeypatch.setenv("RUNBOOK_SSH_CONFIG", str(proxied(lab_state, tmp_path, missing)))
    run = verify(_through_proxy(lab_profile))
    errors = {c: run.findings[c].summary for c in HOST_CHECKS}
    assert {run.findings[c].status for c in HOST_CHECKS} == {Status.ERROR}
    for summary in errors.values():
        assert "through ProxyCommand aws-not-installed" in summary and "\n" not in summary
