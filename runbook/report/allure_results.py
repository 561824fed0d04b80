"""allure's results folder: made ready for each run, and its writes on a full disk.

Ready: the last run's results go once this run has checks to report, but the trend history
stays (allure's trend needs the previous report's ``history/`` in the results; it is kept,
or taken from ``allure-report/history`` beside it, where ``allure generate`` wrote it), and
``categories.json`` tells a failed check from one that could not be checked.

A full disk: one line at the end, not an INTERNALERROR mid-run.

allure writes each result as it goes (a temporary file, then a rename); a write that fails
raises through pytest's hooks and stops the run. This wrapper, registered in allure's own
plugin manager, takes the failure, removes the half-written temporary file and lets the run
go on: the results already written stay whole, the warning says the set is incomplete.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import allure_commons

NAME = "notifier-runbook-allure-guard"


class AllureGuard:
    def __init__(self, results: Path, unwritten: Callable[[str, str], None]) -> None:
        self.results = results
        self.unwritten = unwritten

    def _guarded(self) -> Generator[None, Any, Any]:
        try:
            return (yield)
        except OSError as exc:
            if exc.filename and str(exc.filename).endswith(".tmp"):  # its own, half-written
                with contextlib.suppress(OSError):
                    Path(exc.filename).unlink()
            self.unwritten(
                str(self.results), f"{exc.strerror or exc}; the results there are incomplete"
            )
            return None

    @allure_commons.hookimpl(wrapper=True)
    def report_result(self, result: Any) -> Generator[None, Any, Any]:
        return (yield from self._guarded())

    @allure_commons.hookimpl(wrapper=True)
    def report_container(self, container: Any) -> Generator[None, Any, Any]:
        return (yield from self._guarded())

    @allure_commons.hookimpl(wrapper=True)
    def report_attached_file(self, source: Any, file_name: Any) -> Generator[None, Any, Any]:
        return (yield from self._guarded())

    @allure_commons.hookimpl(wrapper=True)
    def report_attached_data(self, body: Any, file_name: Any) -> Generator[None, Any, Any]:
        return (yield from self._guarded())

    @allure_commons.hookimpl(wrapper=True)
    def report_globals(self, globals_item: Any) -> Generator[None, Any, Any]:
        return (yield from self._guarded())


def guard_allure(results: Path, unwritten: Callable[[str, str], None]) -> None:
    """Guard this process's allure writes into ``results`` (once: allure's manager is global)."""
    manager = allure_commons.plugin_manager
    if manager.has_plugin(NAME):
        manager.unregister(name=NAME)
    manager.register(AllureGuard(results, unwritten), NAME)


CATEGORIES = [
    {
        "name": "could not check (access, network, time-out)",
        "messageRegex": "COULD NOT CHECK.*",
        "matchedStatuses": ["failed", "broken"],
    },
    {"name": "deployment differs from the guide", "matchedStatuses": ["failed"]},
]


def fresh_results(results: Path) -> None:
    """Empty ``results`` for this run, keeping (or bringing in) the trend history."""
    history = results / "history"
    generated = results.parent / "allure-report" / "history"
    source = generated if generated.is_dir() else history
    results.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".allure-history-", dir=results.parent))
    try:
        if source.is_dir():
            shutil.copytree(source, staging / "history")
        shutil.rmtree(results, ignore_errors=True)
        results.mkdir(parents=True, exist_ok=True)
        if (staging / "history").is_dir():
            (staging / "history").rename(history)
        (results / "categories.json").write_text(json.dumps(CATEGORIES, indent=2) + "\n")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
