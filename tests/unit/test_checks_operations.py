"""The operations checks on the recorded lab's day, with one change to it per case: the hours
named are UTC's whatever the zone of the answer, a run that started this hour excuses a
running database and a run stuck since before does not, the boundaries are exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from checks import lookup as L
from checks.operations import hour_of, name, per_hour
from runbook.aws.inventory import Inventory
from runbook.engine import evaluate
from runbook.findings import Status
from runbook.registry import CHECKS, load_checks

from .test_checks_recorded import PROFILE, changed_by, recorded

load_checks()
SNAP = recorded()
WINDOW = SNAP['operations_window("24")']
START, END = WINDOW["start"], WINDOW["end"]
MACHINE = f'executions_since("WikidotNotifierDatabaseStartStop", "{START}")'
ERRORS = (
    f'metric_points("AWS/Lambda", "Errors", "FunctionName", "WikidotNotifier", "{START}", "{END}")'
)
STOPPED = "database_stopped_unless_a_run_is_in_progress"
EXECUTIONS = "state_machine_ran_every_hour_and_succeeded"
INDIA = timezone(timedelta(hours=5, minutes=30))


def at(hours: float) -> str:
    """A time ``hours`` after the window's end (negative: before), ISO in UTC."""
    return (datetime.fromisoformat(END) + timedelta(hours=hours)).isoformat()


def test_hours_are_utc_whatever_the_zone_of_the_answer() -> None:
    assert hour_of("2026-11-23T21:40:00+05:30") == datetime(2026, 11, 23, 16, tzinfo=UTC)
    points = [
        {"t": "2026-11-23T21:31:00+05:30", "sum": 1, "max": 1},  # 16:01Z
        {"t": "2026-11-23T17:59:59+01:00", "sum": 2, "max": 2},  # 16:59Z
    ]
    assert {name(h): v for h, v in per_hour(points, "sum").items()} == {"2026-11-23T16:00Z": 3}


def test_an_error_answered_in_a_half_hour_zone_names_its_utc_hour() -> None:
    def error_in_india(s: dict) -> None:
        s[ERRORS][5]["sum"] = 1
        utc = datetime.fromisoformat(s[ERRORS][5]["t"])
        s[ERRORS][5]["t"] = utc.astimezone(INDIA).isoformat()

    snap = recorded()
    expected = name(hour_of(snap[ERRORS][5]["t"]))
    error_in_india(snap)
    found = evaluate(
        CHECKS["function_had_no_errors_or_throttles"], Inventory.from_snapshot(snap), PROFILE
    )
    assert found.status == Status.FAIL and found.actual["errors"] == {expected: 1}


def _running(snap: dict, started: str) -> None:
    snap[MACHINE].append({"name": "run", "status": "RUNNING", "start": started, "stop": None})
    for inst in snap["instances()"]:
        if L.tag(inst) == PROFILE.database.instance_name:
            inst["State"]["Name"] = "running"


@pytest.mark.parametrize(
    ("started", "verdicts"),
    [
        (at(0.2), {}),  # this hour's run holds the database: nothing wrong
        (at(0), {}),  # started on the hour exactly
        # RUNNING since the last hour: stuck, no excuse (and that hour's run never succeeded)
        (at(-0.01), {STOPPED: Status.FAIL, EXECUTIONS: Status.FAIL}),
        (at(-72), {STOPPED: Status.FAIL}),  # stuck for days, long before the window
    ],
)
def test_a_running_database_is_excused_only_by_this_hours_run(
    started: str, verdicts: dict[str, Status]
) -> None:
    assert changed_by(lambda s: _running(s, started)) == verdicts


@pytest.mark.parametrize(("after_s", "late"), [(59, False), (60, True)])
def test_an_execution_is_late_from_start_within_s(after_s: int, late: bool) -> None:
    def start_later(s: dict) -> None:
        run = s[MACHINE][3]
        hour = hour_of(run["start"])
        run["start"] = (hour + timedelta(seconds=after_s)).isoformat()

    assert changed_by(start_later) == ({EXECUTIONS: Status.FAIL} if late else {})


def test_no_datapoints_without_the_function_is_not_a_pass() -> None:
    def function_gone(s: dict) -> None:
        s['function("WikidotNotifier")'] = None

    changed = changed_by(function_gone)
    assert changed["function_had_no_errors_or_throttles"] == Status.FAIL
    assert changed["function_duration_below_timeout_with_headroom"] == Status.FAIL
