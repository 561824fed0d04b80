"""The simulation in a process of its own: the same results as in this process, and a child
that fails, hangs or cannot start is an error of the check (never a verdict), tried again."""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict
from pathlib import Path

import pytest

from runbook.aws import inventory
from runbook.stepfunctions.simulate import simulate
from runbook.stepfunctions.template import guide_definition

FUNCTION = "WikidotNotifier"
DEFINITION = json.dumps(
    guide_definition(f"arn:aws:lambda:eu-west-2:111122223333:function:{FUNCTION}")
)


@pytest.fixture(autouse=True)
def nothing_remembered() -> None:
    inventory._SIMULATED.clear()


def test_the_child_gives_what_this_process_would() -> None:
    here = json.loads(json.dumps([asdict(r) for r in simulate(DEFINITION, function_name=FUNCTION)]))
    child = json.loads(json.dumps(inventory._simulated(DEFINITION, FUNCTION)))
    assert [r["execution_status"] for r in child] == [r["execution_status"] for r in here]
    assert [r["states_visited"] for r in child] == [r["states_visited"] for r in here]
    assert [r["final_instance_state"] for r in child] == ["stopped"] * 4
    assert inventory._SIMULATED  # remembered for the rest of the process


@pytest.mark.parametrize(
    ("executable", "says"),
    [
        ("/bin/false", "exit status 1"),
        (str(Path("/nonexistent/python")), "could not start"),
    ],
)
def test_a_failed_child_is_an_error_tried_again(
    monkeypatch: pytest.MonkeyPatch, executable: str, says: str
) -> None:
    monkeypatch.setattr(inventory.sys, "executable", executable)
    (result,) = inventory._simulated(DEFINITION, FUNCTION)
    assert result["execution_status"] == "NOT_RUN"
    assert says in result["error"] and result["error"].startswith("the simulation did not finish")
    assert not inventory._SIMULATED  # not remembered: the next run tries again


def test_the_childs_last_words_are_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def crashed(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        said = "Traceback (most recent call last):\nModuleNotFoundError: No module named 'moto'\n"
        return subprocess.CompletedProcess(command, 1, "", said)

    monkeypatch.setattr(inventory.subprocess, "run", crashed)
    (result,) = inventory._simulated(DEFINITION, FUNCTION)
    assert result["error"].endswith("ModuleNotFoundError: No module named 'moto'")


def test_a_child_that_hangs_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inventory, "SIMULATION_BOUND_S", 0.05)
    (result,) = inventory._simulated(DEFINITION, FUNCTION)
    assert result["execution_status"] == "NOT_RUN" and "took over 0.05 s" in result["error"]
