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


def test_runs_waiting_for_a_simulation_that_fails_take_its_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fleet's deployments of one definition: a simulation that hangs costs its bound once,
    not once per deployment; a later run tries again."""
    import threading

    class Counted:
        """The module's lock, counting the runs that have looked at the attempts so far."""

        def __init__(self) -> None:
            self.lock, self.passed, self.all_in = threading.Lock(), 0, threading.Event()

        def __enter__(self) -> None:
            self.lock.acquire()

        def __exit__(self, *exc: object) -> None:
            self.passed += 1
            if self.passed == 4:
                self.all_in.set()
            self.lock.release()

    counted = Counted()
    calls = []

    def failing(definition: str, function_name: str) -> tuple[dict, ...]:
        calls.append(definition)
        assert counted.all_in.wait(10)  # the three others are waiting for this attempt
        return (inventory._not_simulated("it took too long"),)

    monkeypatch.setattr(inventory, "_SIMULATING", counted)
    monkeypatch.setattr(inventory, "_simulate", failing)
    definition = DEFINITION + " "  # a key of this test's own
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(inventory._simulated(definition, FUNCTION)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(results) == 4
    assert all(r[0]["execution_status"] == "NOT_RUN" for r in results)
    counted.all_in.set()
    inventory._simulated(definition, FUNCTION)  # a later run: tried again
    assert len(calls) == 2
