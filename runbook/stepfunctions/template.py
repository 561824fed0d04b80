"""The guide's Step Functions flow (EC2 database variant) as an ASL definition.

The guide shows the flow only as a picture; this is the same graph with the same state names, so a
deployment made from it reads like the guide. Every error path is caught and stops the instance,
and the polling loop is bounded by a counter, so no run can leave the database running.
"""

from __future__ import annotations

from typing import Any

_EC2 = "arn:aws:states:::aws-sdk:ec2:"
_INSTANCE_IDS = {"InstanceIds.$": "States.Array($.db_instance_id)"}


def _stop_on_error() -> list[dict[str, Any]]:
    """A fresh Catch list per state, so editing one state's copy cannot change another's."""
    return [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Stop database (fail)"}
    ]


def guide_definition(
    function_arn: str, *, max_tries: int = 10, first_wait: int = 20, poll_wait: int = 5
) -> dict[str, Any]:
    """Return the flow for the notifier function ``function_arn``.

    The run's input carries ``db_instance_id``, ``config_path`` and ``auth_path`` (the
    EventBridge target's constant input). The notifier is told the execution's start time as
    "now", so a run that starts late still notifies for its scheduled hour. After ``max_tries``
    polls without ``running`` the run gives up, stops the instance and fails.
    """
    first = f"Wait {first_wait} seconds"
    poll = f"Wait {poll_wait} seconds"
    return {
        "Comment": "Start the database, run the notifier, stop the database (also on errors).",
        "StartAt": "Start database",
        "States": {
            "Start database": {
                "Type": "Task",
                "Resource": _EC2 + "startInstances",
                "Parameters": dict(_INSTANCE_IDS),
                "ResultPath": None,
                "Catch": _stop_on_error(),
                "Next": first,
            },
            first: {"Type": "Wait", "Seconds": first_wait, "Next": "Set loop counter"},
            "Set loop counter": {
                "Type": "Pass",
                "Result": {"count": 0},
                "ResultPath": "$.loop",
                "Next": "Check database state",
            },
            "Check database state": {
                "Type": "Task",
                "Resource": _EC2 + "describeInstances",
                "Parameters": dict(_INSTANCE_IDS),
                "ResultSelector": {"state.$": "$.Reservations[0].Instances[0].State.Name"},
                "ResultPath": "$.database",
                "Catch": _stop_on_error(),
                "Next": "Is database running?",
            },
            "Is database running?": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.database.state", "StringEquals": "running", "Next": "Notify"}
                ],
                "Default": poll,
            },
            poll: {"Type": "Wait", "Seconds": poll_wait, "Next": "Increment loop counter"},
            "Increment loop counter": {
                "Type": "Pass",
                "Parameters": {"count.$": "States.MathAdd($.loop.count, 1)"},
                "ResultPath": "$.loop",
                "Next": "Counter exceeded?",
            },
            "Counter exceeded?": {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": "$.loop.count",
                        "NumericGreaterThanEquals": max_tries,
                        "Next": "Stop database (fail)",
                    }
                ],
                "Default": "Check database state",
            },
            "Notify": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": function_arn,
                    "Payload": {
                        "config_path.$": "$.config_path",
                        "auth_path.$": "$.auth_path",
                        "force_current_time.$": "$$.Execution.StartTime",
                    },
                },
                "ResultPath": None,
                "Catch": _stop_on_error(),
                "Next": "Stop database (success)",
            },
            "Stop database (success)": {
                "Type": "Task",
                "Resource": _EC2 + "stopInstances",
                "Parameters": dict(_INSTANCE_IDS),
                "ResultPath": None,
                "Next": "Success",
            },
            "Stop database (fail)": {
                "Type": "Task",
                "Resource": _EC2 + "stopInstances",
                "Parameters": dict(_INSTANCE_IDS),
                "ResultPath": None,
                "Next": "Fail",
            },
            "Success": {"Type": "Succeed"},
            "Fail": {
                "Type": "Fail",
                "Error": "NotifierRunFailed",
                "Cause": "The database did not start or the notifier failed; it was stopped.",
            },
        },
    }
