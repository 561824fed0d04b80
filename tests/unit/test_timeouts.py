"""An AWS endpoint that never answers ends the checks in *error* within the profile's bounds,
a run that has used ``timeouts.run_s`` ends every remaining check in *error* at once, and an
SSH host that never answers is unreachable within ``hosts.timeout_s``.

The peer is a real loopback socket that accepts and stays silent; the runs are real runs
(the project's session, retries and checks). The elapsed times are only loose upper bounds:
they exist to prove that the bounds hold, with a generous margin for slow machines.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from runbook.aws.collected import CollectionError
from runbook.engine import not_applicable
from runbook.errors import UsageError
from runbook.findings import Status
from runbook.hosts.connect import Connections
from runbook.profile import Hosts, Profile, load_profile
from runbook.registry import checks_in_guide_order
from runbook.run import Run

from .bounds import Silent, cause, silent_listener, with_timeouts

MARGIN_S = 5.0  # for a slow machine; far below what a missing bound would cost
BACKOFF_S = 1.0  # botocore's back-off between attempts after a time-out is at most 0.1 s


@pytest.fixture
def silent_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Silent]:
    """boto3 pointed at a silent endpoint, with dummy credentials and no user config."""
    with silent_listener() as silent:
        monkeypatch.setenv("AWS_ENDPOINT_URL", silent.url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "silent")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "silent")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        yield silent


def test_silent_endpoint_errors_the_checks_within_the_profiles_bound(silent_aws: Silent) -> None:
    connect_s, read_s, attempts = 0.5, 0.5, 2
    profile = with_timeouts(Profile(), connect_s=connect_s, read_s=read_s, max_attempts=attempts)
    checks = [
        c
        for c in checks_in_guide_order()
        if c.section in ("vpc", "secrets") and not not_applicable(c, profile)
    ]
    started = time.monotonic()
    run = Run(profile)
    try:
        for check in checks:
            run.check(check)
    finally:
        run.close()
    elapsed = time.monotonic() - started

    got = {
        c.id: (run.findings[c.id].status, run.findings[c.id].evidence.get("cause")) for c in checks
    }
    assert got == dict.fromkeys(got, (Status.ERROR, "unreachable"))
    assert all("Read timeout on endpoint URL" in run.findings[c.id].summary for c in checks)
    # Each call was tried the profile's number of times, each attempt a connection swallowed.
    calls = sum(run.session.log.calls.values())
    assert calls > 0
    assert sum(run.session.log.attempts.values()) == calls * attempts == silent_aws.accepted
    assert elapsed < calls * (attempts * (connect_s + read_s) + BACKOFF_S) + MARGIN_S


def test_run_time_limit_errors_every_remaining_check_without_calling_aws(
    silent_aws: Silent,
) -> None:
    connect_s, read_s, run_s = 1.0, 1.0, 0.5
    profile = with_timeouts(
        Profile(), connect_s=connect_s, read_s=read_s, max_attempts=1, run_s=run_s
    )
    attempts_at_limit: int | None = None
    started = time.monotonic()
    run = Run(profile)
    try:
        for check in checks_in_guide_order():
            found = run.check(check)
            attempts = sum(run.session.log.attempts.values())
            if cause(found) == "run-time-limit":
                attempts_at_limit = attempts if attempts_at_limit is None else attempts_at_limit
                assert attempts == attempts_at_limit, f"{check.id} called AWS after the limit"
                assert found.summary.startswith("could not check: run time limit of 0.5 s reached")
    finally:
        run.close()
    elapsed = time.monotonic() - started

    assert attempts_at_limit is not None
    expected = {
        c.id: Status.SKIP if not_applicable(c, profile) else Status.ERROR
        for c in checks_in_guide_order()
    }
    assert {cid: f.status for cid, f in run.findings.items()} == expected
    # The run ends within its bound plus the one call that was under way when it was reached.
    assert elapsed < run_s + connect_s + read_s + MARGIN_S


def test_silent_ssh_host_is_unreachable_within_the_hosts_bound_in_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    timeout_s = 1.0
    earlier = {t for t in threading.enumerate() if isinstance(t, paramiko.Transport)}
    with silent_listener() as silent:
        connections = Connections(Hosts(timeout_s=timeout_s, address_map={"*:22": silent.address}))
        started = time.monotonic()
        with pytest.raises(CollectionError) as raised:
            connections.client("10.0.0.5")
        elapsed = time.monotonic() - started
        deadline = time.monotonic() + 30  # paramiko's own thread logs its failure as it ends
        while any(
            isinstance(t, paramiko.Transport) and t not in earlier for t in threading.enumerate()
        ):  # this test's transport only: others' may live on in a whole-suite run
            assert time.monotonic() < deadline, "paramiko's transport thread never ended"
            time.sleep(0.05)

    assert raised.value.kind == "unreachable"
    assert "no SSH answer within 1 s" in str(raised.value)
    assert silent.accepted == 1
    assert elapsed < timeout_s + MARGIN_S
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_run_bound_is_a_profile_key(tmp_path: Path) -> None:
    assert Profile().timeouts.run_s == 1800
    path = tmp_path / "p.toml"
    path.write_text("[timeouts]\nrun_s = 60\n")
    assert load_profile(path).timeouts.run_s == 60
    path.write_text("[timeouts]\nrun_s = 0\n")
    with pytest.raises(UsageError, match=r"timeouts\.run_s"):
        load_profile(path)
