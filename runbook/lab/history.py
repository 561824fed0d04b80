"""A day of the hourly cycle, as AWS would have recorded it: the lab's operational history.

Every hour the rule fires (AWS/Events), the state machine starts the database, runs the
notifier (AWS/Lambda, its log) and stops the database. The lab never runs any of it, so
``seed`` writes what those runs leave behind: datapoints, log lines and executions. A
``Faults`` value makes some hours go wrong the way they do on AWS, for the tests.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from checks import lookup as L
from runbook.aws.session import AwsSession
from runbook.lab import control
from runbook.profile import Profile

FIRES_AT_S = 2  # EventBridge's delay after the hour
EXECUTION_S = 150  # start the database, run the notifier, stop the database
LAMBDA_AT_S = 70  # the notifier's invocation inside the execution
DURATION_MS = 41_000


@dataclass(frozen=True)
class Faults:
    """Hours that went wrong, counted back from the current hour (1: the last whole hour)."""

    missed: tuple[int, ...] = ()  # the rule did not fire: nothing ran
    failed: tuple[int, ...] = ()  # the execution FAILED (e.g. stopping the database failed)
    errors: tuple[int, ...] = ()  # the Lambda reported an error
    timed_out: tuple[int, ...] = ()  # the Lambda hit its timeout: no "Lambda finished"
    late: tuple[int, ...] = ()  # the execution started minutes after the hour


@dataclass(frozen=True)
class HistoryFault:
    """An unhealthy day and what it must fail: check -> key of its ``actual`` -> the hours
    (counted back as in ``Faults``) named there."""

    faults: Faults
    names: dict[str, dict[str, tuple[int, ...]]]

    @property
    def breaks(self) -> frozenset[str]:
        return frozenset(self.names)


RULE = "rule_fired_once_every_hour"
EXECUTIONS = "state_machine_ran_every_hour_and_succeeded"
ERRORS = "function_had_no_errors_or_throttles"
DURATION = "function_duration_below_timeout_with_headroom"
FINISHED = "function_log_shows_every_run_finished"
EGRESS_TIMEOUTS = "function_logs_show_no_timeouts"  # the egress section reads the same log
# The database instance left running is a fault of the present, not of the history.
LEFT_RUNNING = "database_stopped_unless_a_run_is_in_progress"

HISTORY_FAULTS = {
    "three_missed_hours": HistoryFault(
        Faults(missed=(3, 7, 8)),
        {
            RULE: {"missed": (8, 7, 3)},
            EXECUTIONS: {"missed": (8, 7, 3)},
            FINISHED: {"not_finished": (8, 7, 3)},
        },
    ),
    "failed_execution": HistoryFault(Faults(failed=(5,)), {EXECUTIONS: {"not_succeeded": (5,)}}),
    "late_execution": HistoryFault(Faults(late=(2,)), {EXECUTIONS: {"late": (2,)}}),
    "error_metric": HistoryFault(
        Faults(errors=(4,)), {ERRORS: {"errors": (4,)}, FINISHED: {"not_finished": (4,)}}
    ),
    "time_out_in_the_log": HistoryFault(
        Faults(timed_out=(6,)),
        {
            FINISHED: {"not_finished": (6,), "timed_out": (6,)},
            ERRORS: {"errors": (6,)},
            DURATION: {"hours_over": (6,)},
            EGRESS_TIMEOUTS: {},
        },
    ),
}


@dataclass(frozen=True)
class HourlyRun:
    hour: datetime
    fired: datetime
    status: str
    error: bool
    timed_out: bool
    start_after_s: int


def runs(profile: Profile, now: datetime, faults: Faults) -> list[HourlyRun]:
    """The runs of the look-back window and two hours before it, of the current hour and of
    the next (recorded ahead, so that a session crossing the hour still sees a whole
    window); a missed hour has none."""
    current = now.replace(minute=0, second=0, microsecond=0)
    out = []
    for ago in range(profile.operations.lookback_hours + 2, -2, -1):
        hour = current - timedelta(hours=ago)
        if ago in faults.missed:
            continue
        out.append(
            HourlyRun(
                hour=hour,
                fired=hour + timedelta(seconds=FIRES_AT_S),
                status="FAILED" if ago in faults.failed else "SUCCEEDED",
                error=ago in faults.errors or ago in faults.timed_out,
                timed_out=ago in faults.timed_out,
                start_after_s=180 if ago in faults.late else 1,
            )
        )
    return out


def seed(
    session: AwsSession,
    url: str,
    profile: Profile,
    faults: Faults = Faults(),
    now: datetime | None = None,
) -> list[HourlyRun]:
    """Replace the lab's history of the hourly cycle with ``runs`` (``session`` may delete:
    the log group is made afresh)."""
    hourly = runs(profile, now or datetime.now(UTC), faults)
    setting: dict[str, Any] = {
        "account": session.client("sts").get_caller_identity()["Account"],
        "region": profile.region,
        "clear_metrics": ["AWS/Events", "AWS/Lambda"],
    }
    if profile.variants.database == "ec2":  # Aurora: the rule runs the function itself
        setting["state_machine_arn"] = machine_arn(session, profile)
        setting["executions"] = [execution(r) for r in hourly]
    control.set_past_operations(url, setting)
    _metrics(session, profile, hourly)
    _logs(session, profile, hourly)
    return hourly


def machine_arn(session: AwsSession, profile: Profile) -> str:
    client = session.client("stepfunctions")
    for page in client.get_paginator("list_state_machines").paginate():
        for m in page["stateMachines"]:
            if m["name"] == profile.step_functions.state_machine:
                return str(m["stateMachineArn"])
    raise LookupError(f"the lab has no state machine {profile.step_functions.state_machine}")


def execution(run: HourlyRun) -> dict[str, Any]:
    start = run.fired + timedelta(seconds=run.start_after_s - FIRES_AT_S)
    return {
        "name": f"hourly-{run.hour:%Y%m%dT%H%M}-{uuid.uuid4().hex[:8]}",
        "status": run.status,
        "start": start.isoformat(),
        "stop": (start + timedelta(seconds=EXECUTION_S)).isoformat(),
    }


def _metrics(session: AwsSession, profile: Profile, hourly: list[HourlyRun]) -> None:
    timeout_ms = _timeout_s(session, profile) * 1000
    rule = [{"Name": "RuleName", "Value": profile.trigger.rule}]
    function = [{"Name": "FunctionName", "Value": profile.function.function}]
    data: list[tuple[str, dict[str, Any]]] = []
    for r in hourly:
        ran = r.fired + timedelta(seconds=LAMBDA_AT_S)
        duration = timeout_ms if r.timed_out else DURATION_MS + (r.hour.hour % 7) * 1500
        data += [
            ("AWS/Events", _datum("Invocations", rule, r.fired, 1)),
            ("AWS/Events", _datum("FailedInvocations", rule, r.fired, 0)),
            ("AWS/Lambda", _datum("Invocations", function, ran, 1)),
            ("AWS/Lambda", _datum("Errors", function, ran, int(r.error))),
            ("AWS/Lambda", _datum("Throttles", function, ran, 0)),
            ("AWS/Lambda", _datum("Duration", function, ran, duration, "Milliseconds")),
        ]
    cloudwatch = session.client("cloudwatch")
    for namespace in ("AWS/Events", "AWS/Lambda"):
        mine = [d for ns, d in data if ns == namespace]
        for i in range(0, len(mine), 500):  # CloudWatch's limit per request is 1000
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=mine[i : i + 500])


def _datum(
    metric: str, dimensions: list[dict[str, str]], at: datetime, value: float, unit: str = "Count"
) -> dict[str, Any]:
    return {
        "MetricName": metric,
        "Dimensions": dimensions,
        "Timestamp": at,
        "StatisticValues": {"SampleCount": 1, "Sum": value, "Minimum": value, "Maximum": value},
        "Unit": unit,
    }


def _timeout_s(session: AwsSession, profile: Profile) -> int:
    got = session.client("lambda").get_function_configuration(
        FunctionName=profile.function.function
    )
    return int(got.get("Timeout", 3))


def _logs(session: AwsSession, profile: Profile, hourly: list[HourlyRun]) -> None:
    """One stream per run, as Lambda writes them: START, the notifier's lines, END, REPORT."""
    logs = session.client("logs")
    group = L.log_group(profile)
    if logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
        logs.delete_log_group(logGroupName=group)
    logs.create_log_group(logGroupName=group)
    for r in hourly:
        ran = r.fired + timedelta(seconds=LAMBDA_AT_S)
        stream = f"{ran:%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        request = str(uuid.uuid4())
        lines = [f"START RequestId: {request} Version: $LATEST", "Lambda started"]
        if r.timed_out:
            timeout = _timeout_s(session, profile)
            lines.append(
                f"{ran:%Y-%m-%dT%H:%M:%S}Z {request} Task timed out after {timeout}.00 seconds"
            )
        elif r.error:
            lines.append("[ERROR] RuntimeError: the notifier failed")
        else:
            lines.append(profile.operations.finished_message)
        lines += [
            f"END RequestId: {request}",
            f"REPORT RequestId: {request}\tDuration: {DURATION_MS} ms\tMemory Size: "
            f"{profile.function.memory_mb} MB",
        ]
        at = int(ran.timestamp() * 1000)
        logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": at + i, "message": m} for i, m in enumerate(lines)],
        )
