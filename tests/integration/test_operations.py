"""The nightly operations section on seeded histories: each unhealthy day fails exactly the
operations checks it should, naming the hours, and nothing else changes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from checks import lookup as L
from runbook.aws.inventory import Inventory
from runbook.aws.session import open_session
from runbook.findings import Status
from runbook.lab import build, control, history
from runbook.profile import Profile
from runbook.run import Run

from .conftest import verify

pytestmark = pytest.mark.lab

STOPPED = history.LEFT_RUNNING
HOST_CHECK = "database_host_mysql_installed_at_profile_version"


def hour(now: datetime, ago: int) -> str:
    return (now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=ago)).strftime(
        "%Y-%m-%dT%H:00Z"
    )


def named(actual: dict, key: str) -> set[str]:
    value = actual[key]
    items = value.keys() if isinstance(value, dict) else value
    return {i["hour"] if isinstance(i, dict) else i for i in items}


@pytest.fixture(scope="module")
def baseline(built_lab: Run, lab_profile: Profile) -> dict[str, Status]:
    found = verify(lab_profile).findings
    operations = {cid: f.status for cid, f in found.items() if f.section == "operations"}
    assert len(operations) == 6 and set(operations.values()) == {Status.PASS}
    return {cid: f.status for cid, f in found.items()}


@pytest.fixture
def healthy_history(lab_profile: Profile, lab_url: str) -> Iterator[None]:
    yield
    history.seed(build.lab_hand(lab_profile), lab_url, lab_profile)


@pytest.mark.parametrize("case", sorted(history.HISTORY_FAULTS))
def test_unhealthy_history_fails_operations_naming_the_hours(
    case: str,
    lab_profile: Profile,
    lab_url: str,
    baseline: dict[str, Status],
    healthy_history: None,
) -> None:
    fault = history.HISTORY_FAULTS[case]
    expected = fault.names
    now = datetime.now(UTC)
    history.seed(build.lab_hand(lab_profile), lab_url, lab_profile, fault.faults, now=now)
    after = verify(lab_profile).findings
    failing = {cid for cid, f in after.items() if f.status == Status.FAIL}
    assert failing == set(expected), {cid: after[cid].summary for cid in failing}
    for cid, keys in expected.items():
        for key, ago in keys.items():
            assert named(after[cid].actual, key) == {hour(now, a) for a in ago}, after[cid].actual
    changed = {c for c, f in after.items() if c not in expected and f.status != baseline[c]}
    assert changed == set()


def test_database_left_running_fails_unless_a_run_is_in_progress(
    lab_profile: Profile, lab_url: str, baseline: dict[str, Status], healthy_history: None
) -> None:
    hand = build.lab_hand(lab_profile)
    instance = L.db_instance(Inventory(open_session(lab_profile.region)), lab_profile)
    ec2 = hand.client("ec2")
    ec2.start_instances(InstanceIds=[instance["InstanceId"]])
    try:
        found = verify(lab_profile).findings
        assert {c for c, f in found.items() if f.status == Status.FAIL} == {STOPPED}
        assert found[STOPPED].actual == {"state": "running", "runs_in_progress": []}
        # the same instance while this hour's run is under way: nothing wrong
        hourly = history.seed(hand, lab_url, lab_profile)
        machine = history.machine_arn(hand, lab_profile)
        now = datetime.now(UTC)
        executions = [history.execution(r) for r in hourly if r.fired <= now]
        running = {"name": "hourly-now", "status": "RUNNING", "start": now.isoformat()}
        control.set_past_operations(
            lab_url,
            {
                "account": machine.split(":")[4],
                "region": lab_profile.region,
                "state_machine_arn": machine,
                "executions": [*executions, running],
            },
        )
        found = verify(lab_profile).findings
        assert found[STOPPED].status == Status.PASS, found[STOPPED].summary
        assert found[STOPPED].actual["runs_in_progress"] == ["hourly-now"]
    finally:
        ec2.stop_instances(InstanceIds=[instance["InstanceId"]])
        ec2.get_waiter("instance_stopped").wait(InstanceIds=[instance["InstanceId"]])


def test_a_database_this_run_started_for_host_checks_is_judged_as_found(
    lab_profile: Profile, baseline: dict[str, Status]
) -> None:
    """--start-database runs the database for the host checks; that is not a database left
    running, even when the instance is read again after the start (as perform does)."""
    from runbook.registry import CHECKS

    run = Run(lab_profile, start_database=True)
    try:
        assert run.check(CHECKS[HOST_CHECK]).status == Status.PASS
        run.inventory.invalidate()
        found = run.check(CHECKS[STOPPED])
    finally:
        run.close()
    assert found.status == Status.PASS, found.summary
    assert found.evidence["state_now"] in ("pending", "running")
