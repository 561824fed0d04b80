"""Throttling and time-outs end in *could not check*, never in a wrong verdict (the built lab).

Throttling is injected in front of the lab's endpoint (the lab server's middleware), never
inside the checks: a share of the requests retried within the budget changes no verdict and
the report counts the retries; one operation throttled past the budget errors exactly the
checks that need it. An SSH host that never answers errors the host checks within
``hosts.timeout_s``. (The AWS time-outs and the run's bound are in tests/unit/test_timeouts.py:
they need no lab.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest

from runbook.findings import Status
from runbook.lab import control
from runbook.lab.host_faults import ACCESS, DB_HOST
from runbook.profile import Profile
from runbook.registry import checks_in_guide_order
from runbook.report import model
from runbook.run import Run
from tests.unit.bounds import cause, silent_listener, with_timeouts

from .conftest import verify
from .test_hosts import db_state

pytestmark = pytest.mark.lab

SECRET_READ = "secretsmanager:GetSecretValue"
MARGIN_S = 5.0  # for a slow machine; far below what a missing bound would cost


def statuses(run: Run) -> dict[str, Status]:
    return {cid: f.status for cid, f in run.findings.items()}


@pytest.fixture(scope="module")
def baseline(built_lab: Run, lab_profile: Profile) -> Run:
    """The unthrottled verify every verdict is compared with."""
    return verify(lab_profile)


@pytest.fixture
def throttle(lab_url: str) -> Iterator[Callable[..., dict[str, Any]]]:
    """``control.throttle`` on the lab for one test; always off again after it."""
    try:
        yield partial(control.throttle, lab_url)
    finally:
        control.throttle(lab_url, 0)


def checks_calling(profile: Profile, operation: str) -> set[str]:
    """The checks that call ``operation`` when made alone (nothing collected before them)."""
    run = Run(profile)
    needing = set()
    try:
        for check in checks_in_guide_order():
            run.inventory.invalidate()
            before = run.session.log.calls[operation]
            run.check(check)
            if run.session.log.calls[operation] > before:
                needing.add(check.id)
    finally:
        run.close()
    return needing


def test_throttled_share_changes_no_verdict_and_the_report_counts_the_retries(
    baseline: Run, lab_profile: Profile, lab_url: str, throttle: Callable[..., dict[str, Any]]
) -> None:
    assert baseline.retries() == {}  # so every retry below answers a throttle
    throttle(0.3)
    run = verify(lab_profile)
    refused = control.throttling(lab_url)["throttled"]

    assert statuses(run) == statuses(baseline)
    assert refused > 0
    assert run.aws_calls() == baseline.aws_calls()  # the same calls, only more attempts
    assert sum(run.retries().values()) == refused
    assert model.build(run, exit_status=0)["aws_retries"] == run.retries()


def test_operation_throttled_past_the_budget_errors_exactly_the_checks_needing_it(
    baseline: Run, lab_profile: Profile, lab_url: str, throttle: Callable[..., dict[str, Any]]
) -> None:
    needing = checks_calling(lab_profile, SECRET_READ)
    assert needing and all(baseline.findings[c].status == Status.PASS for c in needing)
    throttle(operations=[SECRET_READ])
    run = verify(with_timeouts(lab_profile, max_attempts=2))

    changed = {cid: s for cid, s in statuses(run).items() if s != baseline.findings[cid].status}
    assert changed == dict.fromkeys(needing, Status.ERROR)
    assert {cause(run.findings[c]) for c in needing} == {"throttled"}
    # Collected once, tried twice (the profile's budget), refused both times.
    log = run.session.log
    assert (log.calls[SECRET_READ], log.attempts[SECRET_READ]) == (1, 2)
    assert control.throttling(lab_url)["throttled"] == 2


def test_silent_ssh_host_errors_the_host_checks_within_the_hosts_bound(
    baseline: Run, lab_profile: Profile
) -> None:
    host_checks = DB_HOST | ACCESS
    timeout_s = 2.0
    took: dict[str, float] = {}
    with silent_listener() as silent:
        hosts = lab_profile.hosts.model_copy(
            update={
                "timeout_s": timeout_s,
                "start_wait_s": 0.5,  # one try at SSH after the start, no waiting for a boot
                "address_map": {**lab_profile.hosts.address_map, "*:22": silent.address},
            }
        )
        run = Run(lab_profile.model_copy(update={"hosts": hosts}), start_database=True)
        try:
            for check in checks_in_guide_order():
                started = time.monotonic()
                run.check(check)
                took[check.id] = time.monotonic() - started
        finally:
            run.close()

    got = {c: (run.findings[c].status, cause(run.findings[c])) for c in host_checks}
    assert got == dict.fromkeys(host_checks, (Status.ERROR, "unreachable"))
    assert all("no SSH answer within 2 s" in run.findings[c].summary for c in host_checks)
    assert {c: took[c] for c in host_checks if took[c] >= timeout_s + MARGIN_S} == {}
    assert silent.accepted == 2  # the database host and the access host, once each
    others = {c: s for c, s in statuses(run).items() if c not in host_checks}
    assert others == {c: s for c, s in statuses(baseline).items() if c not in host_checks}
    assert db_state(lab_profile) in ("stopping", "stopped")
