"""The lab's hand on moto's past: what no AWS API can write, done inside the lab server.

On AWS the hourly cycle leaves its traces as it runs: executions with their start and stop
times, and CloudWatch's datapoints. moto starts every execution *now* and never forgets a
datapoint, so the lab's history of the last day (runbook/lab/history.py) sets them here,
through ``POST /lab-api/operations``. Only the lab server imports this module.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def replace_operations(setting: Any) -> dict[str, Any]:
    """Give the state machine exactly these executions, and forget every datapoint of the
    namespaces named in ``clear_metrics``. ValueError says what is wrong with the setting.

    ``{"state_machine_arn": arn, "executions": [{"name", "status", "start", "stop"}],
    "clear_metrics": ["AWS/Events", "AWS/Lambda"]}`` (times ISO 8601 with an offset)."""
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.stepfunctions.exceptions import StateMachineDoesNotExist
    from moto.stepfunctions.models import Execution, stepfunctions_backends

    if not isinstance(setting, dict) or not isinstance(setting.get("state_machine_arn"), str):
        raise ValueError('expected {"state_machine_arn": ..., "executions": [...]}')
    arn = setting["state_machine_arn"]
    parts = arn.split(":")
    if len(parts) != 7:
        raise ValueError(f"not a state machine ARN: {arn!r}")
    region, account = parts[3], parts[4]
    try:
        machine = stepfunctions_backends[account][region].describe_state_machine(arn)
    except StateMachineDoesNotExist:
        raise ValueError(f"no state machine {arn}") from None
    executions = []
    for run in setting.get("executions", []):
        if run.get("status") not in STATUSES:
            raise ValueError(f"execution {run.get('name')!r}: status must be one of {STATUSES}")
        execution = Execution(region, account, machine.name, run["name"], arn, "{}")
        execution.start_date = datetime.fromisoformat(run["start"])
        execution.stop_date = datetime.fromisoformat(run["stop"]) if run.get("stop") else None
        execution.status = run["status"]
        executions.append(execution)
    machine.executions = executions
    clear = set(setting.get("clear_metrics", []))
    metrics = cloudwatch_backends[account][region]
    metrics.metric_data = [m for m in metrics.metric_data if m.namespace not in clear]
    return {"executions": len(executions), "metrics": len(metrics.metric_data)}
