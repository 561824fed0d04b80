"""The operations checks on the recorded lab's day, with one change to it per case: the hours
named are UTC's whatever the zone of the answer, a run that started this hour excuses a
running database and a run stuck since before does not, the boundaries are exact."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

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
SERIES = next(key for key in SNAP if key.startswith("metric_series("))
ERRORS = "AWS/Lambda Errors FunctionName WikidotNotifier"
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
        errors = s[SERIES][ERRORS]
        errors[5]["sum"] = 1
        utc = datetime.fromisoformat(errors[5]["t"])
        errors[5]["t"] = utc.astimezone(INDIA).isoformat()

    snap = recorded()
    expected = name(hour_of(snap[SERIES][ERRORS][5]["t"]))
    error_in_india(snap)
    found = evaluate(
        CHECKS["function_had_no_errors_or_throttles"], Inventory.from_snapshot(snap), PROFILE
    )
    assert found.status == Status.FAIL and found.actual["errors"] == {expected: 1}


def _database(snap: dict) -> dict:
    return next(i for i in snap["instances()"] if L.tag(i) == PROFILE.database.instance_name)


NOW_KEY = f'database_now("{{}}", "WikidotNotifierDatabaseStartStop", "{END}")'
READ_AT = at(0.3)  # the check reads the database's state 18 minutes into the hour


def _state_now(snap: dict, state: str, runs: list[dict] | None = None) -> None:
    """What the check reads last: the state at READ_AT, then (a second later) this hour's
    runs."""
    later = (datetime.fromisoformat(READ_AT) + timedelta(seconds=1)).isoformat()
    snap[NOW_KEY.format(_database(snap)["InstanceId"])] = {
        "state": state,
        "read_at": READ_AT,
        "runs": runs,
        "runs_read_at": later,
    }


def _run(start: str, status: str = "SUCCEEDED", stop: str | None = None) -> dict:
    return {"name": "run", "status": status, "start": start, "stop": stop}


def _running(snap: dict, started: str) -> None:
    snap[MACHINE].append(_run(started, "RUNNING"))
    _database(snap)["State"]["Name"] = "running"
    _state_now(snap, "running", [_run(started, "RUNNING")])


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


def test_the_database_is_judged_as_it_is_when_the_check_runs() -> None:
    """Running when the run began (an hourly execution under way), stopped by the time the
    operations are read (the execution ended and stopped it): nothing wrong; and the other
    way round a database started since the run began is seen running."""

    def stopped_since(s: dict) -> None:
        _database(s)["State"]["Name"] = "running"

    assert changed_by(stopped_since) == {}
    assert changed_by(lambda s: _state_now(s, "running", [])) == {STOPPED: Status.FAIL}


@pytest.mark.parametrize(
    ("stop_after_read_s", "excused"),
    [
        (0.5, True),  # ended between the state's read and the runs': it had the database
        (-60, False),  # ended before the state was read: something else runs the database
        (5, False),  # "ended" after both reads: not a run that happened (the lab's ahead)
    ],
)
def test_a_run_that_ended_between_the_reads_had_the_database(
    stop_after_read_s: float, excused: bool
) -> None:
    stop = (datetime.fromisoformat(READ_AT) + timedelta(seconds=stop_after_read_s)).isoformat()
    runs = [_run(at(0.01), stop=stop)]
    verdicts = changed_by(lambda s: _state_now(s, "running", runs))
    assert verdicts == ({} if excused else {STOPPED: Status.FAIL})


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


FINISHED = "function_log_shows_every_run_finished"
TIMEOUTS = "function_logs_show_no_timeouts"


def _logs(snap: dict, group: str) -> list[str]:
    return [k for k in snap if k.startswith(f'log_lines("{group}"')]


def test_the_log_group_the_function_names_is_the_one_read() -> None:
    """Lambda's advanced logging controls may send the logs elsewhere (LoggingConfig)."""

    def logs_elsewhere(s: dict) -> None:
        config = s['function("WikidotNotifier")']["Configuration"]
        config["LoggingConfig"] = {"LogFormat": "Text", "LogGroup": "/notifier/shared"}

    # what the function names is read (and its role's right to write there is asked): the
    # recording has nothing there
    assert changed_by(logs_elsewhere) == {
        FINISHED: Status.ERROR,
        TIMEOUTS: Status.ERROR,
        "function_role_may_do_what_the_function_does": Status.ERROR,
    }

    def moved(s: dict) -> None:
        logs_elsewhere(s)
        asked = [k for k in s if k.startswith("simulation(")]
        for key in _logs(s, "/aws/lambda/WikidotNotifier") + asked:
            moved = json.dumps(s.pop(key)).replace(
                "/aws/lambda/WikidotNotifier", "/notifier/shared"
            )
            s[key.replace("/aws/lambda/WikidotNotifier", "/notifier/shared")] = json.loads(moved)

    assert changed_by(moved) == {}


def test_no_log_group_is_no_evidence_of_no_time_outs() -> None:
    def no_log_group(s: dict) -> None:
        for key in _logs(s, "/aws/lambda/WikidotNotifier"):
            s[key] = None

    snap = recorded()
    no_log_group(snap)
    inv = Inventory.from_snapshot(snap)
    timeouts = evaluate(CHECKS[TIMEOUTS], inv, PROFILE)
    assert timeouts.status == Status.SKIP and "does not exist" in timeouts.summary
    assert evaluate(CHECKS[FINISHED], inv, PROFILE).status == Status.FAIL


def test_failures_name_their_incidents_one_per_hour_and_kind() -> None:
    """What the history compares to tell tonight's missed hour from last night's."""
    snap = recorded()
    (logs,) = _logs(snap, "/aws/lambda/WikidotNotifier")
    finished = snap[logs]["Lambda finished"]
    gone = [finished.pop(3), finished.pop(7)]
    snap[logs]["Task timed out"] = [
        {"t": gone[1]["t"], "message": "Task timed out after 300.00 seconds"}
    ]
    inv = Inventory.from_snapshot(snap)
    hours = sorted(name(hour_of(e["t"])) for e in gone)
    found = evaluate(CHECKS[FINISHED], inv, PROFILE)
    assert found.status == Status.FAIL
    timed_out = name(hour_of(gone[1]["t"]))
    assert found.details["incidents"] == sorted(
        [*(f"not finished {h}" for h in hours), f"timed out {timed_out}"]
    )
    egress = evaluate(CHECKS[TIMEOUTS], inv, PROFILE)
    assert egress.details["incidents"] == [f"time-out {timed_out}"]
    healthy = evaluate(CHECKS[FINISHED], Inventory.from_snapshot(recorded()), PROFILE)
    assert healthy.details["incidents"] == []


class _Executions:
    """Step Functions' ListExecutions over ``pages`` (newest first), counting the calls."""

    def __init__(self, pages: list[list[dict]], running: list[dict]) -> None:
        self.pages, self.running, self.calls = pages, running, []

    def list_executions(self, stateMachineArn: str, nextToken: str = "0") -> dict:
        self.calls.append("list")
        i = int(nextToken)
        page = {"executions": self.pages[i]}
        if i + 1 < len(self.pages):
            page["nextToken"] = str(i + 1)
        return page

    def get_paginator(self, name: str) -> Any:
        outer = self

        class Pages:
            def paginate(self, stateMachineArn: str, statusFilter: str) -> list[dict]:
                outer.calls.append(statusFilter)
                return [{"executions": outer.running}]

        return Pages()


def _execution(name: str, hours_ago: float, status: str = "SUCCEEDED") -> dict:
    start = datetime(2026, 12, 4, 12, tzinfo=UTC) - timedelta(hours=hours_ago)
    return {"executionArn": name, "name": name, "status": status, "startDate": start}


@pytest.mark.parametrize(
    ("pages", "asked"),
    [
        # one page holds the whole history: the old running one is in it, nothing more asked
        ([[_execution("new", 1), _execution("old-running", 30, "RUNNING")]], ["list"]),
        # older executions on a page with more after it: the running ones are asked for
        (
            [[_execution("new", 1), _execution("older", 30)], [_execution("oldest", 40)]],
            ["list", "RUNNING"],
        ),
        # every page within the window, to the last one: all seen
        ([[_execution("new", 1)], [_execution("newer", 2)]], ["list", "list"]),
    ],
)
def test_executions_read_the_window_and_every_running_one_with_no_call_more(
    pages: list[list[dict]], asked: list[str]
) -> None:
    from runbook.aws.operations import OperationsCollector

    running = [e for page in pages for e in page if e["status"] == "RUNNING"]
    if "RUNNING" in asked:
        running = [_execution("old-running", 50, "RUNNING")]
    client = _Executions(pages, running)

    class Reader(OperationsCollector):
        def __init__(self) -> None:
            self._cache: dict[str, Any] = {}
            self.session = type("S", (), {"client": lambda _, name: client})()

        def state_machine_arn(self, name: str) -> str:
            return f"arn:aws:states:eu-west-2:123456789012:stateMachine:{name}"

    got = Reader().executions_since("M", "2026-12-03T12:00:00+00:00")
    assert client.calls == asked
    window = {
        e["name"]
        for page in pages
        for e in page
        if e["startDate"] >= datetime(2026, 12, 3, 12, tzinfo=UTC)
    }
    assert {e["name"] for e in got} == window | {e["name"] for e in running}
