"""The simulation's cache: a repeat reads the kept result, anything that could change it does
not, only conclusive results are kept, and a broken cache costs a simulation, never the run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from runbook.stepfunctions import cache

DEFINITION = json.dumps({"StartAt": "Go", "States": {"Go": {"Type": "Succeed"}}})


def result(status: str = "SUCCEEDED", error: str | None = None) -> list[dict[str, Any]]:
    return [
        {
            "scenario": "happy-path",
            "execution_status": status,
            "final_instance_state": "stopped",
            "lambda_payloads": ({"force_current_time": "now"},),
            "states_visited": ("Go",),
            "error": error,
        }
    ]


class Simulator:
    """Counts the simulations the cache asks for."""

    def __init__(self, answer: list[dict[str, Any]]) -> None:
        self.answer = answer
        self.runs = 0

    def __call__(self) -> list[dict[str, Any]]:
        self.runs += 1
        return self.answer


def test_a_repeat_reads_the_kept_result_and_answers_alike(tmp_path: Path) -> None:
    simulator = Simulator(result())
    first = cache.cached(tmp_path, DEFINITION, "WikidotNotifier", simulator)
    again = cache.cached(tmp_path, DEFINITION, "WikidotNotifier", simulator)
    assert simulator.runs == 1
    assert first == again
    assert again[0]["states_visited"] == ["Go"]  # a hit and a miss give lists alike
    assert len(list(tmp_path.glob("*.json"))) == 1


def test_a_changed_definition_name_or_simulator_is_simulated_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    simulator = Simulator(result())
    cache.cached(tmp_path, DEFINITION, "WikidotNotifier", simulator)
    cache.cached(tmp_path, DEFINITION.replace("Go", "Went"), "WikidotNotifier", simulator)
    cache.cached(tmp_path, DEFINITION, "OtherNotifier", simulator)
    assert simulator.runs == 3
    monkeypatch.setattr(cache.metadata, "version", lambda _name: "99.0.0")  # moto upgraded
    cache.cached(tmp_path, DEFINITION, "WikidotNotifier", simulator)
    assert simulator.runs == 4


def test_the_simulators_code_is_in_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = cache.key(DEFINITION, "WikidotNotifier")
    source = tmp_path / "simulate.py"
    source.write_text("# another simulator\n")
    (tmp_path / "graph.py").write_text("")
    monkeypatch.setattr(cache, "__file__", str(tmp_path / "cache.py"))
    assert cache.key(DEFINITION, "WikidotNotifier") != before


@pytest.mark.parametrize(
    "answer",
    [
        result("TIMED_OUT", "still running after 30 s in the simulation; aborted"),
        result("NOT_RUN", "moto is in server mode"),
        result("SUCCEEDED", "1 interpreter thread(s) still running"),
    ],
)
def test_an_inconclusive_result_is_not_kept(tmp_path: Path, answer: list[dict[str, Any]]) -> None:
    simulator = Simulator(answer)
    cache.cached(tmp_path, DEFINITION, "WikidotNotifier", simulator)
    cache.cached(tmp_path, DEFINITION, "WikidotNotifier", simulator)
    assert simulator.runs == 2
    assert not list(tmp_path.glob("*.json"))


def test_a_corrupt_entry_is_simulated_again_and_replaced(tmp_path: Path) -> None:
    simulator = Simulator(result())
    entry = tmp_path / f"{cache.key(DEFINITION, 'WikidotNotifier')}.json"
    for junk in ("{not json", '{"a": 1}', "[1, 2]"):
        entry.write_text(junk)
        assert cache.cached(tmp_path, DEFINITION, "WikidotNotifier", simulator)[0]["error"] is None
    assert simulator.runs == 3
    assert json.loads(entry.read_text())[0]["execution_status"] == "SUCCEEDED"


def test_an_unwritable_cache_costs_a_simulation_not_the_run(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    simulator = Simulator(result())
    for _ in range(2):
        assert cache.cached(blocked / "simulation", DEFINITION, "F", simulator) == json.loads(
            json.dumps(result())
        )
    assert simulator.runs == 2
    assert not list(tmp_path.glob("**/.*.tmp"))


def test_no_directory_means_simulate_and_keep_nothing(tmp_path: Path) -> None:
    simulator = Simulator(result())
    cache.cached(None, DEFINITION, "WikidotNotifier", simulator)
    cache.cached(None, DEFINITION, "WikidotNotifier", simulator)
    assert simulator.runs == 2


def test_the_least_recently_used_go_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "KEEP", 2)
    simulator = Simulator(result())
    names = ["A", "B", "C"]
    for age, name in enumerate(names):
        cache.cached(tmp_path, DEFINITION, name, simulator)
        entry = tmp_path / f"{cache.key(DEFINITION, name)}.json"
        stamp = 1_000_000 + age * 10
        os.utime(entry, (stamp, stamp))
    kept = {p.stem for p in tmp_path.glob("*.json")}
    assert kept == {cache.key(DEFINITION, "B"), cache.key(DEFINITION, "C")}


def test_the_cache_is_the_users_own(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache.default_dir() == tmp_path / "notifier-runbook" / "simulation"
