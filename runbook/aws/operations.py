"""The deployment at work: CloudWatch metrics, Step Functions executions and the window read.

Every collection takes the window's bounds as arguments, so a recorded inventory answers
for the window it was recorded in and two checks of a run always read the same hours.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from runbook.aws.collected import cache_key, collected


class OperationsCollector:
    session: Any
    _cache: dict[str, Any]
    state_machine_arns: Callable[[], dict[str, str]]  # the schedule's (ScheduleCollector)

    @collected("local")
    def operations_window(self, hours: str) -> dict[str, str]:
        """The last ``hours`` whole hours before the current one (which is still running)."""
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        start = end - timedelta(hours=int(hours))
        return {"start": start.isoformat(), "end": end.isoformat()}

    def window_read(self, hours: str) -> dict[str, str] | None:
        """The look-back window if a check of this run read it; None if none looked back."""
        got = self._cache.get(cache_key("operations_window", hours))
        return got if isinstance(got, dict) else None

    @collected("cloudwatch", reads=("GetMetricStatistics",))
    def metric_points(
        self, namespace: str, metric: str, dimension: str, value: str, start: str, end: str
    ) -> list[dict[str, Any]]:
        """Hourly Sum and Maximum of one metric of one resource: [{"t", "sum", "max"}]."""
        got = self.session.client("cloudwatch").get_metric_statistics(
            Namespace=namespace,
            MetricName=metric,
            Dimensions=[{"Name": dimension, "Value": value}],
            StartTime=datetime.fromisoformat(start),
            EndTime=datetime.fromisoformat(end),
            Period=3600,
            Statistics=["Sum", "Maximum"],
        )
        return sorted(
            (
                {
                    # botocore gives CloudWatch's times in the machine's zone: hours are UTC's
                    "t": p["Timestamp"].astimezone(UTC).isoformat(),
                    "sum": p["Sum"],
                    "max": p["Maximum"],
                }
                for p in got.get("Datapoints", [])
            ),
            key=lambda p: p["t"],
        )

    @collected("stepfunctions", reads=("ListExecutions",))
    def executions_since(self, machine: str, start: str) -> list[dict[str, Any]] | None:
        """The state machine's executions started since ``start``, and every one still
        running however old; None when the machine does not exist."""
        client = self.session.client("stepfunctions")
        arn = self.state_machine_arns().get(machine)  # the run's one listing
        if arn is None:
            return None
        since = datetime.fromisoformat(start)
        found: dict[str, dict[str, Any]] = {}
        for page in client.get_paginator("list_executions").paginate(stateMachineArn=arn):
            recent = [e for e in page["executions"] if e["startDate"] >= since]  # newest first
            found.update((e["executionArn"], e) for e in recent)
            if len(recent) < len(page["executions"]):
                break  # the rest is older than the window: never page through 90 days
        running = client.get_paginator("list_executions").paginate(
            stateMachineArn=arn, statusFilter="RUNNING"
        )
        found.update((e["executionArn"], e) for page in running for e in page["executions"])
        out = [
            {
                "name": e["name"],
                "status": e["status"],
                "start": e["startDate"].astimezone(UTC).isoformat(),
                "stop": e["stopDate"].astimezone(UTC).isoformat() if e.get("stopDate") else None,
            }
            for e in found.values()
        ]
        return sorted(out, key=lambda e: e["start"])

    @collected(
        "ec2",
        absent=("InvalidInstanceID.NotFound",),
        reads=("DescribeInstances",),
        sequential=True,  # read when its check asks, after the host checks, never ahead
    )
    def database_now(self, instance_id: str, machine: str, hour: str) -> dict[str, Any] | None:
        """The instance's state when the check asks (not when the run began), then, unless it
        is stopped, the executions started since ``hour``, each read with its time:
        {"state", "read_at", "runs", "runs_read_at"}; None without the instance.

        In that order, a run that ended between the two reads (and stopped the instance after
        its state was read) is seen, and so is one under way; the runs read earlier for the
        executions check may predate either.
        """
        read_at = datetime.now(UTC).isoformat()
        got = self.session.client("ec2").describe_instances(InstanceIds=[instance_id])
        states = [i["State"]["Name"] for r in got["Reservations"] for i in r["Instances"]]
        if not states:
            return None
        out: dict[str, Any] = {"state": states[0], "read_at": read_at, "runs": None}
        if states[0] not in ("stopped", "stopping"):
            out["runs"] = self.executions_since(machine, hour) or []
            out["runs_read_at"] = datetime.now(UTC).isoformat()
        return out

    @collected("logs", absent=("ResourceNotFoundException",), reads=("FilterLogEvents",))
    def log_events(
        self, group: str, term: str, start: str, end: str
    ) -> list[dict[str, str]] | None:
        """Log lines containing ``term`` in the window: [{"t", "message"}]; None without the
        log group."""
        logs = self.session.client("logs")
        out: list[dict[str, str]] = []
        pages = logs.get_paginator("filter_log_events").paginate(
            logGroupName=group,
            filterPattern=f'"{term}"',
            startTime=_ms(start),
            endTime=_ms(end) - 1,
        )
        for page in pages:
            out.extend(
                {
                    "t": datetime.fromtimestamp(e["timestamp"] / 1000, UTC).isoformat(),
                    "message": e["message"][:300],
                }
                for e in page.get("events", [])
                if term in e["message"]  # moto ignores some pattern syntax: match here too
            )
        return sorted(out, key=lambda e: e["t"])


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)
