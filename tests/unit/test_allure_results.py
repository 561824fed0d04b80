"""allure's results folder between runs: the last run's results go, its trend history stays
(or comes from the report allure generated beside it), and the categories are written."""

from __future__ import annotations

import json
from pathlib import Path

from runbook.report.allure_results import fresh_results


def test_the_last_results_go_and_the_history_stays(tmp_path: Path) -> None:
    results = tmp_path / "allure-results"
    (results / "history").mkdir(parents=True)
    (results / "history" / "history-trend.json").write_text("[1]")
    (results / "old-result.json").write_text("{}")
    fresh_results(results)
    assert sorted(p.name for p in results.iterdir()) == ["categories.json", "history"]
    assert (results / "history" / "history-trend.json").read_text() == "[1]"
    names = [c["name"] for c in json.loads((results / "categories.json").read_text())]
    assert names[0].startswith("could not check")


def test_a_generated_reports_history_is_the_newer_one(tmp_path: Path) -> None:
    results = tmp_path / "allure-results"
    (results / "history").mkdir(parents=True)
    (results / "history" / "history-trend.json").write_text("[1]")
    generated = tmp_path / "allure-report" / "history"
    generated.mkdir(parents=True)
    (generated / "history-trend.json").write_text("[1, 2]")
    fresh_results(results)
    assert (results / "history" / "history-trend.json").read_text() == "[1, 2]"
    assert generated.is_dir()  # the report is left as it was
    assert not (tmp_path / ".allure-history").exists()


def test_a_first_run_has_no_history(tmp_path: Path) -> None:
    results = tmp_path / "allure-results"
    fresh_results(results)
    assert sorted(p.name for p in results.iterdir()) == ["categories.json"]
