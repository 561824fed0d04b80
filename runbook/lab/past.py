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
    """Forget every datapoint of the namespaces in ``clear_metrics`` and, when a state machine
    is named, give it exactly these executions. ValueError says what is wrong with the setting.

    ``{"account": id, "region": r, "clear_metrics": ["AWS/Events", "AWS/Lambda"],
    "state_machine_arn": arn, "executions": [{"name", "status", "start", "stop"}]}`` (times
    ISO 8601 with an offset; the Aurora variants have no state machine)."""
    from moto.cloudwatch.models import cloudwatch_backends

    if not isinstance(setting, dict) or not all(
        isinstance(setting.get(k), str) for k in ("account", "region")
    ):
        raise ValueError('expected {"account": ..., "region": ..., "clear_metrics": [...]}')
    account, region = setting["account"], setting["region"]
    executions = None
    if setting.get("state_machine_arn") is not None:
        executions = _set_executions(account, region, setting)
    clear = set(setting.get("clear_metrics", []))
    metrics = cloudwatch_backends[account][region]
    metrics.metric_data = [m for m in metrics.metric_data if m.namespace not in clear]
    return {"executions": executions, "metrics": len(metrics.metric_data)}


def _set_executions(account: str, region: str, setting: dict[str, Any]) -> int:
    from moto.stepfunctions.exceptions import StateMachineDoesNotExist
    from moto.stepfunctions.models import Execution, stepfunctions_backends

    arn = setting["state_machine_arn"]
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
    return len(executions)
