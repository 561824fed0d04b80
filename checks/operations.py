"""Operations (nightly): did the notifier run every hour of the look-back window, and well.

Every check names the hours that went wrong (``2026-11-23T03:00Z``), so the morning reader
knows where to look in CloudWatch without reading it. A failure also lists its *incidents*
(``details.incidents``: ``missed 2026-11-23T03:00Z``, one per thing wrong in one hour), so the
history can tell tonight's missed hour from last night's: a check that fails night after
night is news whenever it names an hour it did not name before.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from checks import lookup as L
from runbook.findings import Outcome, absent, judged
from runbook.profile import Profile
from runbook.registry import check
from runbook.sections import database_is

if TYPE_CHECKING:
    from runbook.aws.inventory import Inventory

GUIDE_SCHEDULE = "the rule runs the notifier at the start of every hour (Adding the Lambda trigger)"


def hours(start: str, end: str) -> list[datetime]:
    """Every whole hour from ``start`` up to, not including, ``end``."""
    first, last = datetime.fromisoformat(start), datetime.fromisoformat(end)
    return [first + timedelta(hours=i) for i in range(int((last - first).total_seconds() // 3600))]


def hour_of(iso: str) -> datetime:
    """The UTC hour a time falls in (half-hour zones included)."""
    return datetime.fromisoformat(iso).astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def name(hour: datetime) -> str:
    return hour.strftime("%Y-%m-%dT%H:00Z")


def per_hour(points: list[dict[str, Any]], stat: str) -> dict[datetime, float]:
    """CloudWatch's datapoints by the hour they fall in (sums add up, maxima take the max)."""
    out: dict[datetime, float] = {}
    for p in points:
        h = hour_of(p["t"])
        out[h] = out.get(h, 0) + p[stat] if stat == "sum" else max(out.get(h, 0), p[stat])
    return out


# Every metric the section reads, asked together (one GetMetricData for the run).
METRICS = (
    ("AWS/Events", "Invocations"),
    ("AWS/Events", "FailedInvocations"),
    ("AWS/Lambda", "Errors"),
    ("AWS/Lambda", "Throttles"),
    ("AWS/Lambda", "Duration"),
)


def metric_query(p: Profile, namespace: str, metric: str) -> str:
    """ "namespace metric dimension value": the rule's or the function's metric."""
    if namespace == "AWS/Events":
        return f"{namespace} {metric} RuleName {p.trigger.rule}"
    return f"{namespace} {metric} FunctionName {p.function.function}"


def _metric(inv: Inventory, p: Profile, namespace: str, metric: str, stat: str) -> dict:
    start, end = L.window(inv, p)
    series = inv.metric_series(start, end, *(metric_query(p, *m) for m in METRICS))
    return per_hour(series[metric_query(p, namespace, metric)], stat)


SHOWN = 48  # hours named in ``actual``; the incidents name them all


def _names(hs: list[datetime]) -> list[str]:
    return [name(h) for h in sorted(hs)]


def incidents(named: dict[str, list[str]]) -> list[str]:
    """``{"missed": [hour, ...]}`` → ``["missed <hour>", ...]``: what the history compares."""
    return sorted(f"{what.replace('_', ' ')} {hour}" for what, hs in named.items() for hour in hs)


@check(
    id="rule_fired_once_every_hour",
    section="operations",
    says="the rule fired once in every hour of the look-back window, and no invocation failed",
    guide=GUIDE_SCHEDULE,
    severity="high",
    risk="hours without a run: notifications were not sent",
)
def rule_fired_every_hour(inv: Inventory, p: Profile) -> Outcome:
    window = hours(*L.window(inv, p))
    fired = _metric(inv, p, "AWS/Events", "Invocations", "sum")
    failed = _metric(inv, p, "AWS/Events", "FailedInvocations", "sum")
    bad = {
        "missed": _names([h for h in window if not fired.get(h)]),
        "more_than_once": _names([h for h in window if fired.get(h, 0) > 1]),
        "failed": _names([h for h in window if failed.get(h)]),
    }
    return judged(
        not any(bad.values()),
        f"{len(window)} hours: {len(bad['missed'])} missed, {len(bad['more_than_once'])} "
        f"fired more than once, {len(bad['failed'])} with failed invocations",
        expected={"missed": [], "more_than_once": [], "failed": []},
        actual={k: v[:SHOWN] for k, v in bad.items()},
        evidence={
            "metric": f"AWS/Events Invocations, FailedInvocations (RuleName={p.trigger.rule})",
            "window": list(L.window(inv, p)),
        },
        incidents=incidents(bad),
    )


@check(
    id="state_machine_ran_every_hour_and_succeeded",
    section="operations",
    says="one state-machine execution started in the first minute of every hour, and all succeeded",
    guide="the rule starts the state machine, which starts the database, runs the notifier and "
    "stops the database",
    applies=database_is("ec2"),
    severity="high",
    risk="runs failed or were missed: notifications were not sent",
)
def executions_hourly(inv: Inventory, p: Profile) -> Outcome:
    start, end = L.window(inv, p)
    machine = L.state_machine_name(inv, p)
    runs = inv.executions_since(machine, start)
    if runs is None:
        return absent("state machine", machine)
    window = hours(start, end)
    by_hour: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        by_hour[hour_of(run["start"])].append(run)
    limit = p.operations.start_within_s
    late = [
        {"hour": name(h), "execution": r["name"], "started": r["start"]}
        for h in window
        for r in by_hour[h]
        if (datetime.fromisoformat(r["start"]) - h).total_seconds() >= limit
    ]
    not_succeeded = [
        {"hour": name(h), "execution": r["name"], "status": r["status"]}
        for h in window
        for r in by_hour[h]
        if r["status"] != "SUCCEEDED"
    ]
    hourly = {
        "missed": _names([h for h in window if not by_hour[h]]),
        "more_than_once": _names([h for h in window if len(by_hour[h]) > 1]),
    }
    actual = {
        **{k: v[:SHOWN] for k, v in hourly.items()},
        "not_succeeded": not_succeeded[:24],
        "late": late[:24],
    }
    per_run = {
        "not succeeded": [f"{r['hour']} ({r['execution']})" for r in not_succeeded],
        "late": [f"{r['hour']} ({r['execution']})" for r in late],
    }
    return judged(
        not any(actual.values()),
        f"{len(window)} hours: {len(hourly['missed'])} without an execution, "
        f"{len(not_succeeded)} not SUCCEEDED, {len(late)} started after {limit} s",
        expected={"missed": [], "more_than_once": [], "not_succeeded": [], "late": []},
        actual=actual,
        evidence={"executions": len(runs), "window": [start, end]},
        incidents=incidents({**hourly, **per_run}),
    )


@check(
    id="function_had_no_errors_or_throttles",
    section="operations",
    says="the Lambda reported no errors and no throttles over the look-back window",
    guide="look at the Lambda's logs for the failing hours (Setting up the Lambda)",
    severity="high",
    risk="the notifier failed or was throttled: notifications were not sent",
)
def no_errors_or_throttles(inv: Inventory, p: Profile) -> Outcome:
    if L.function_config(inv, p) is None:  # no datapoints would look like no errors
        return absent("function", p.function.function)
    errors = _metric(inv, p, "AWS/Lambda", "Errors", "sum")
    throttles = _metric(inv, p, "AWS/Lambda", "Throttles", "sum")
    actual = {
        "errors": {name(h): v for h, v in sorted(errors.items()) if v},
        "throttles": {name(h): v for h, v in sorted(throttles.items()) if v},
    }
    return judged(
        not actual["errors"] and not actual["throttles"],
        f"{sum(errors.values()):g} error(s), {sum(throttles.values()):g} throttle(s)",
        expected={"errors": {}, "throttles": {}},
        actual=actual,
        evidence={"metric": f"AWS/Lambda Errors, Throttles (FunctionName={p.function.function})"},
        incidents=incidents({k: list(v) for k, v in actual.items()}),
    )


@check(
    id="function_duration_below_timeout_with_headroom",
    section="operations",
    says="the Lambda's longest run stayed below its timeout with the profile's headroom",
    guide="raise the Lambda's timeout (at least 5 minutes in production) or find what slows it",
    severity="medium",
    risk="runs are close to their timeout: a slower hour will be cut short",
)
def duration_headroom(inv: Inventory, p: Profile) -> Outcome:
    cfg = L.function_config(inv, p)
    if cfg is None:
        return absent("function", p.function.function)
    limit_ms = cfg.get("Timeout", 3) * 1000 * (1 - p.operations.duration_headroom)
    longest = _metric(inv, p, "AWS/Lambda", "Duration", "max")
    over = {name(h): v for h, v in sorted(longest.items()) if v >= limit_ms}
    return judged(
        not over,
        f"longest run {max(longest.values(), default=0):g} ms; limit {limit_ms:g} ms "
        f"({cfg.get('Timeout')} s timeout less {p.operations.duration_headroom:.0%})",
        expected={"max_duration_ms_below": limit_ms},
        actual={"hours_over": over, "max_duration_ms": max(longest.values(), default=None)},
        incidents=incidents({"over the limit": list(over)}),
    )


@check(
    id="function_log_shows_every_run_finished",
    section="operations",
    says="the notifier's log shows that every hourly run finished and none timed out",
    guide="the notifier logs 'Lambda finished' at the end of each run; a time-out means the "
    "Lambda's timeout is too short or it lacks internet access",
    severity="high",
    risk="runs did not finish: notifications may not have been sent",
)
def every_run_finished(inv: Inventory, p: Profile) -> Outcome:
    start, end = L.window(inv, p)
    group = L.log_group(p, L.function_config(inv, p))
    done = L.log_lines(inv, p, group, p.operations.finished_message)
    if done is None:
        return absent("log group", group)
    timed_out = L.log_lines(inv, p, group, p.operations.timeout_message) or []
    finished = {hour_of(e["t"]) for e in done}
    window = hours(start, end)
    bad = {
        "not_finished": _names([h for h in window if h not in finished]),
        "timed_out": _names(list({hour_of(e["t"]) for e in timed_out})),
    }
    return judged(
        not any(bad.values()),
        f"{len(bad['not_finished'])} hour(s) without {p.operations.finished_message!r}, "
        f"{len(timed_out)} time-out line(s)",
        expected={"not_finished": [], "timed_out": []},
        actual={k: v[:SHOWN] for k, v in bad.items()},
        evidence={"log_group": group, "time_outs": [e["message"] for e in timed_out[:3]]},
        incidents=incidents(bad),
    )


@check(
    id="database_stopped_unless_a_run_is_in_progress",
    section="operations",
    says="the database instance is stopped now, unless an hourly run is in progress",
    guide="every path of the state machine stops the instance: an instance left running costs "
    "money all day (Start/stop the database using Step Functions)",
    applies=database_is("ec2"),
    severity="medium",
    risk="the database was left running: it bills by the hour",
)
def database_stopped(inv: Inventory, p: Profile) -> Outcome:
    inst = L.db_instance(inv, p)
    if inst is None:
        return absent("database instance", p.database.instance_name)
    start, end = L.window(inv, p)
    machine = L.state_machine_name(inv, p)
    # One RUNNING since before the current hour is stuck: it excuses nothing.
    hour = datetime.fromisoformat(end)
    stuck = [
        r["name"]
        for r in inv.executions_since(machine, start) or []
        if r["status"] == "RUNNING" and datetime.fromisoformat(r["start"]) < hour
    ]
    now = inv.database_now(inst["InstanceId"], machine, end) or {
        "state": inst["State"]["Name"],
        "runs": None,
    }
    state = now["state"]
    if inst["InstanceId"] == inv.database_started_by_this_run():
        state = "stopped"  # until this run started it for the host checks; it stops it again
    holding = [r["name"] for r in _holding(now)]
    return judged(
        state in ("stopped", "stopping") or bool(holding),
        f"instance {state}" + (f" during run {holding[0]}" if holding else ", no run in progress"),
        expected="stopped (or a run in progress)",
        actual={"state": state, "runs_in_progress": holding},
        evidence={
            "InstanceId": inst["InstanceId"],
            "state_now": now["state"],
            "read_at": now.get("read_at"),
            "stuck_runs": stuck[:5],
        },
    )


def _holding(now: dict[str, Any]) -> list[dict[str, Any]]:
    """This hour's runs that explain a running database: one under way, or one that stopped
    it after its state was read (ended between the two reads)."""
    if not now["runs"]:
        return []
    hour = hour_of(now["read_at"])
    read_at, runs_read_at = (datetime.fromisoformat(now[k]) for k in ("read_at", "runs_read_at"))
    return [
        r
        for r in now["runs"]
        if datetime.fromisoformat(r["start"]) >= hour
        and (
            r["status"] == "RUNNING"
            or read_at < datetime.fromisoformat(r["stop"] or now["read_at"]) <= runs_read_at
        )
    ]
