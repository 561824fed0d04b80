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
    state_machine_arn: Callable[[str], str | None]  # the schedule's (ScheduleCollector)

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

    @collected("cloudwatch", reads=("GetMetricData",))
    def metric_series(self, start: str, end: str, *wanted: str) -> dict[str, list[dict[str, Any]]]:
        """Hourly Sum and Maximum of each ``wanted`` metric of one resource ("namespace
        metric dimension value"), all in one GetMetricData: {wanted: [{"t", "sum", "max"}]}."""
        queries = []
        for i, one in enumerate(wanted):
            namespace, metric, dimension, value = one.split(" ", 3)
            series = {
                "Metric": {
                    "Namespace": namespace,
                    "MetricName": metric,
                    "Dimensions": [{"Name": dimension, "Value": value}],
                },
                "Period": 3600,
            }
            queries.append({"Id": f"sum{i}", "MetricStat": {**series, "Stat": "Sum"}})
            queries.append({"Id": f"max{i}", "MetricStat": {**series, "Stat": "Maximum"}})
        found: dict[str, dict[str, float]] = {}
        pages = (
            self.session.client("cloudwatch")
            .get_paginator("get_metric_data")
            .paginate(
                MetricDataQueries=queries,
                StartTime=datetime.fromisoformat(start),
                EndTime=datetime.fromisoformat(end),
            )
        )
        for page in pages:
            for result in page["MetricDataResults"]:
                points = found.setdefault(result["Id"], {})
                for t, v in zip(result["Timestamps"], result["Values"], strict=True):
                    # botocore gives CloudWatch's times in the machine's zone: hours are UTC's
                    points[t.astimezone(UTC).isoformat()] = v
        out = {}
        for i, one in enumerate(wanted):
            sums, maxima = found.get(f"sum{i}", {}), found.get(f"max{i}", {})
            out[one] = [
                {"t": t, "sum": sums.get(t, 0.0), "max": maxima.get(t, 0.0)}
                for t in sorted(set(sums) | set(maxima))
            ]
        return out

    @collected("stepfunctions", absent=("StateMachineDoesNotExist",), reads=("ListExecutions",))
    def executions_since(self, machine: str, start: str) -> list[dict[str, Any]] | None:
        """The state machine's executions started since ``start``, and every one still
        running however old; None when the machine does not exist."""
        client = self.session.client("stepfunctions")
        arn = self.state_machine_arn(machine)
        if arn is None:
            return None
        since = datetime.fromisoformat(start)
        found: dict[str, dict[str, Any]] = {}
        token: dict[str, str] = {}
        while True:  # newest first
            page = client.list_executions(stateMachineArn=arn, **token)
            found.update(
                (e["executionArn"], e)
                for e in page["executions"]
                if e["startDate"] >= since or e["status"] == "RUNNING"
            )
            if not page.get("nextToken"):
                return _executions(found)  # every execution seen, the running ones among them
            if any(e["startDate"] < since for e in page["executions"]):
                break  # the rest is older than the window: never page through 90 days
            token = {"nextToken": page["nextToken"]}
        running = client.get_paginator("list_executions").paginate(
            stateMachineArn=arn, statusFilter="RUNNING"
        )
        found.update((e["executionArn"], e) for page in running for e in page["executions"])
        return _executions(found)

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
    def log_lines(
        self, group: str, start: str, end: str, *terms: str
    ) -> dict[str, list[dict[str, str]]] | None:
        """The log lines containing each of ``terms`` in the window, asked in one filter (any
        of them): {term: [{"t", "message"}]}; None without the log group."""
        logs = self.session.client("logs")
        out: dict[str, list[dict[str, str]]] = {term: [] for term in terms}
        pages = logs.get_paginator("filter_log_events").paginate(
            logGroupName=group,
            filterPattern=" ".join(f'?"{term}"' for term in terms),
            startTime=_ms(start),
            endTime=_ms(end) - 1,
        )
        for page in pages:
            for e in page.get("events", []):
                line = {
                    "t": datetime.fromtimestamp(e["timestamp"] / 1000, UTC).isoformat(),
                    "message": e["message"][:300],
                }
                for term in terms:
                    if term in e["message"]:  # moto ignores some pattern syntax: match here too
                        out[term].append(line)
        return {term: sorted(lines, key=lambda e: e["t"]) for term, lines in out.items()}


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def _executions(found: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
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
