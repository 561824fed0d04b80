"""The flow analysis judges structure and resources, so renamed states must not matter."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from runbook.stepfunctions.graph import (
    MAX_PATHS,
    DefinitionError,
    analyse,
    iter_states,
    parse_definition,
)
from runbook.stepfunctions.template import guide_definition

FUNCTION_ARN = "arn:aws:lambda:eu-west-2:111122223333:function:WikidotNotifier"
HAPPY_PATH = (
    "Start database",
    "Wait 20 seconds",
    "Set loop counter",
    "Check database state",
    "Is database running?",
    "Notify",
)


@pytest.fixture
def flow() -> dict[str, Any]:
    return guide_definition(FUNCTION_ARN)


def renamed(definition: dict[str, Any]) -> dict[str, Any]:
    """The same flow with every state renamed (as a deployment may do in the console)."""
    names = {old: f"step {index}" for index, old in enumerate(definition["States"])}
    result = copy.deepcopy(definition)
    result["StartAt"] = names[result["StartAt"]]
    result["States"] = {names[name]: state for name, state in result["States"].items()}
    for _, state in iter_states(result):
        for holder in [state, *state.get("Choices", []), *state.get("Catch", [])]:
            for key in ("Next", "Default"):
                if key in holder:
                    holder[key] = names[holder[key]]
    return result


def test_template_always_stops_and_is_bounded(flow: dict[str, Any]) -> None:
    result = analyse(flow)
    assert result.paths_without_stop == ()
    assert result.error_exits_without_stop == ()
    assert not result.paths_truncated
    assert result.always_stops
    assert result.unbounded_loops == ()
    assert result.dangling_transitions == ()
    assert result.problems == ()


def test_template_resources_and_payload(flow: dict[str, Any]) -> None:
    result = analyse(flow)
    assert result.start_states == ("Start database",)
    assert result.describe_states == ("Check database state",)
    assert result.stop_states == ("Stop database (success)", "Stop database (fail)")
    assert result.invoke_states == ("Notify",)
    assert result.invoked_functions == ("WikidotNotifier",)
    assert set(result.instance_id_sources.values()) == {"$.db_instance_id"}
    assert result.payload_keys == {"Notify": ("config_path", "auth_path", "force_current_time")}
    assert result.force_current_time_from_start_time
    assert result.reaches_invoke_after_start


def test_template_round_trips_through_json(flow: dict[str, Any]) -> None:
    assert parse_definition(json.dumps(flow)) == flow


def test_renamed_states_pass_the_same_checks(flow: dict[str, Any]) -> None:
    result = analyse(renamed(flow))
    assert result.always_stops
    assert result.unbounded_loops == ()
    assert result.force_current_time_from_start_time
    assert result.reaches_invoke_after_start
    assert len(result.stop_states) == 2
    assert result.invoked_functions == ("WikidotNotifier",)


def test_catch_that_skips_the_stop_is_named(flow: dict[str, Any]) -> None:
    flow["States"]["Notify"]["Catch"][0]["Next"] = "Fail"
    result = analyse(flow)
    assert result.paths_without_stop == ((*HAPPY_PATH, "Fail"),)
    assert not result.always_stops


def test_uncaught_task_error_is_an_exit_without_stop(flow: dict[str, Any]) -> None:
    del flow["States"]["Check database state"]["Catch"]
    result = analyse(flow)
    assert result.paths_without_stop == ()
    assert result.error_exits_without_stop == (HAPPY_PATH[:4],)
    assert not result.always_stops


def test_loop_without_counter_is_unbounded(flow: dict[str, Any]) -> None:
    flow["States"]["Counter exceeded?"] = {"Type": "Pass", "Next": "Check database state"}
    assert analyse(flow).unbounded_loops == (
        (
            "Check database state",
            "Is database running?",
            "Wait 5 seconds",
            "Increment loop counter",
            "Counter exceeded?",
        ),
    )


def test_counter_reset_from_a_literal_does_not_bound_the_loop(flow: dict[str, Any]) -> None:
    flow["States"]["Increment loop counter"] = {
        "Type": "Pass",
        "Result": {"count": 1},
        "ResultPath": "$.loop",
        "Next": "Counter exceeded?",
    }
    assert len(analyse(flow).unbounded_loops) == 1


def test_counter_in_a_workflow_variable_bounds_the_loop(flow: dict[str, Any]) -> None:
    states = flow["States"]
    states["Set loop counter"] = {
        "Type": "Pass",
        "Assign": {"tries": 0},
        "Next": "Check database state",
    }
    states["Increment loop counter"] = {
        "Type": "Pass",
        "Assign": {"tries.$": "States.MathAdd($tries, 1)"},
        "Next": "Counter exceeded?",
    }
    states["Counter exceeded?"]["Choices"] = [
        {
            "And": [{"Variable": "$tries", "NumericLessThan": 10}],
            "Next": "Check database state",
        }
    ]
    states["Counter exceeded?"]["Default"] = "Stop database (fail)"
    assert analyse(flow).unbounded_loops == ()


def test_choice_without_default_whose_rules_all_loop(flow: dict[str, Any]) -> None:
    flow["States"]["Counter exceeded?"] = {
        "Type": "Choice",
        "Choices": [
            {"Variable": "$.loop.count", "NumericLessThan": 10, "Next": "Check database state"}
        ],
    }
    result = analyse(flow)
    assert len(result.unbounded_loops) == 1
    assert "Counter exceeded?" in result.unbounded_loops[0]
    no_match = (*HAPPY_PATH[:5], "Wait 5 seconds", "Increment loop counter", "Counter exceeded?")
    assert no_match in result.error_exits_without_stop
    assert not result.always_stops


def test_self_loop_is_unbounded() -> None:
    definition = {"StartAt": "A", "States": {"A": {"Type": "Wait", "Seconds": 1, "Next": "A"}}}
    assert analyse(definition).unbounded_loops == (("A",),)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"config_path.$": "$.config_path"}, False),
        ({"force_current_time.$": "$.now"}, False),
        ({"force_current_time": "{% $states.context.Execution.StartTime %}"}, True),
    ],
)
def test_force_current_time_must_be_the_start_time(
    flow: dict[str, Any], payload: dict[str, str], expected: bool
) -> None:
    flow["States"]["Notify"]["Parameters"]["Payload"] = payload
    assert analyse(flow).force_current_time_from_start_time is expected


def test_no_invoke_means_no_start_time() -> None:
    definition = {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}
    result = analyse(definition)
    assert not result.force_current_time_from_start_time
    assert not result.reaches_invoke_after_start


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json at all", "not JSON"),
        ("[1, 2]", "JSON list"),
        ('{"States": {}}', "StartAt"),
        ('{"StartAt": "A", "States": []}', "States"),
    ],
)
def test_garbage_text_is_a_definition_error(text: str, message: str) -> None:
    with pytest.raises(DefinitionError, match=message) as raised:
        parse_definition(text)
    assert "\n" not in str(raised.value)


def test_dangling_next_is_reported(flow: dict[str, Any]) -> None:
    flow["States"]["Notify"]["Next"] = "Nowhere"
    assert analyse(flow).dangling_transitions == (("Notify", "Nowhere"),)


def test_malformed_definitions_are_reported_not_raised() -> None:
    definition: dict[str, Any] = {
        "StartAt": ["not", "a", "name"],
        "States": {
            "A": "not an object",
            "B": {"Type": "Task", "Resource": 42},
            "C": {"Type": "Choice", "Default": {"odd": True}},
            "D": {"Comment": "no type"},
        },
    }
    result = analyse(definition)
    assert len(result.problems) == 5
    assert result.paths_without_stop == ()
    assert analyse({}).problems == ("top level: no States",)


def test_resource_forms_are_recognised() -> None:
    definition = {
        "StartAt": "A",
        "States": {
            "A": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:ec2:StartInstances",
                "Parameters": {"InstanceIds.$": "$.ids"},
                "Next": "B",
            },
            "B": {
                "Type": "Task",
                "Resource": "arn:aws:lambda:eu-west-2:111122223333:function:Plain:live",
                "Parameters": {"force_current_time.$": "$$.Execution.StartTime"},
                "Next": "C",
            },
            "C": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": "111122223333:function:Partial:7"},
                "Next": "D",
            },
            "D": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:ec2:stopInstances",
                "Parameters": {"InstanceIds": ["i-0123456789abcdef0"]},
                "End": True,
            },
        },
    }
    result = analyse(definition)
    assert result.start_states == ("A",)
    assert result.invoke_states == ("B", "C")
    assert result.invoked_functions == ("Plain", "Partial")
    assert result.instance_id_sources == {"A": "$.ids", "D": ("i-0123456789abcdef0",)}
    assert result.payload_keys == {"B": ("force_current_time",), "C": ()}
    assert not result.force_current_time_from_start_time
    assert result.reaches_invoke_after_start
    assert result.paths_without_stop == ()
    assert result.error_exits_without_stop == (("A",), ("A", "B"), ("A", "B", "C"))


def test_stop_inside_a_parallel_branch_does_not_count() -> None:
    branch = {
        "StartAt": "Stop",
        "States": {
            "Stop": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:ec2:stopInstances",
                "End": True,
            }
        },
    }
    definition = {
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "Branches": [branch],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done"}],
                "Next": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    result = analyse(definition)
    assert result.stop_states == ("Stop",)
    assert result.paths_without_stop == (("Both", "Done"),)


def test_unbounded_loop_inside_a_map_is_reported() -> None:
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemProcessor": {
                    "StartAt": "Spin",
                    "States": {"Spin": {"Type": "Pass", "Next": "Spin"}},
                },
                "End": True,
            }
        },
    }
    assert analyse(definition).unbounded_loops == (("Spin",),)


def test_path_explosion_is_capped_and_reported() -> None:
    levels = 12  # 2**12 distinct paths to the end
    states: dict[str, Any] = {
        f"L{level}": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.x", "BooleanEquals": True, "Next": f"M{level}"}],
            "Default": f"L{level + 1}",
        }
        for level in range(levels)
    }
    states |= {f"M{level}": {"Type": "Pass", "Next": f"L{level + 1}"} for level in range(levels)}
    states[f"L{levels}"] = {"Type": "Succeed"}
    result = analyse({"StartAt": "L0", "States": states})
    assert result.paths_truncated
    assert len(result.paths_without_stop) == MAX_PATHS
    assert not result.always_stops
