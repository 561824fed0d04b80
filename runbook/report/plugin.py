"""The pytest plugin: options, the run shared by all scenarios, the report at the end.

It only activates when runbook scenarios are collected, so the project's own tests (or a
plain ``pytest --help``) never load a profile or touch AWS.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from runbook.errors import ExitStatus, UsageError
from runbook.profile import load_profile
from runbook.report import model, writers
from runbook.run import Run
from runbook.sections import SECTIONS

DEFAULT_PROFILE = "profiles/notifier.toml"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("runbook", "notifier runbook")
    group.addoption(
        "--profile",
        default=os.environ.get("RUNBOOK_PROFILE", DEFAULT_PROFILE),
        help=f"deployment profile (TOML); default $RUNBOOK_PROFILE or {DEFAULT_PROFILE}",
    )
    group.addoption(
        "--mode",
        choices=("verify", "perform"),
        default="verify",
        help="verify (read-only, default) or perform (fix what fails, then verify)",
    )
    group.addoption(
        "--dry-run", action="store_true", help="with --mode perform: show the plan, change nothing"
    )
    group.addoption("--reports-dir", default="reports", help="where the report files go")
    group.addoption(
        "--start-database",
        action="store_true",
        help="start a stopped database instance for the host checks, and stop it again after",
    )


class RunbookPlugin:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.run: Run | None = None
        self.report: dict[str, Any] | None = None

    def start(self) -> Run:
        opt = self.config.option
        if opt.dry_run and opt.mode != "perform":
            raise UsageError("--dry-run needs --mode perform")
        profile = load_profile(opt.profile)
        self.run = Run(
            profile, mode=opt.mode, dry_run=opt.dry_run, start_database=opt.start_database
        )
        if opt.start_database:  # a TERM (cron, CI time-out) must still stop the database
            signal.signal(signal.SIGTERM, _interrupt)
        return self.run

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        if not any(_is_scenario(i) for i in items):
            return
        items.sort(key=_guide_rank)  # stable: scenarios keep their order within a feature
        try:
            self.start()
        except UsageError as exc:
            pytest.exit(f"usage error: {exc}", returncode=int(ExitStatus.USAGE_ERROR))

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.run is not None:
            try:
                self.run.close()  # interrupted or not: a database this run started is stopped
            except Exception as exc:
                session.config.get_terminal_writer().line(
                    f"WARNING: could not stop the database instance this run started ({exc}); "
                    "stop it by hand",
                    red=True,
                )
        skip = (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERRUPTED)
        if self.run is None or self.config.option.collectonly or exitstatus in skip:
            return
        report = model.build(self.run, exit_status=0)
        status = writers.exit_status(report["totals"])
        if status == ExitStatus.HEALTHY and exitstatus == pytest.ExitCode.TESTS_FAILED:
            status = ExitStatus.COULD_NOT_CHECK  # a scenario failed outside any check
        report["run"]["exit_status"] = int(status)
        out = Path(self.config.option.reports_dir)
        writers.write_json(out / "summary.json", report)
        (out / "summary.md").write_text(writers.markdown(report), encoding="utf-8")
        writers.write_json(out / "inventory.json", self.run.inventory.snapshot())
        self.report = report
        session.exitstatus = int(status)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.report is None:
            return
        tr = terminalreporter
        tr.section("notifier deployment health")
        for line in writers.table(self.report):
            tr.write_line(line)
        for line in writers.problems(self.report):
            tr.write_line(line)
        calls = sum(self.report["aws_calls"].values())
        tr.write_line(
            f"AWS calls: {calls} ({len(self.report['aws_calls'])} operations); "
            f"mutating: {sum(self.report['mutating_calls'].values())}; report: "
            f"{self.config.option.reports_dir}/summary.json, summary.md"
        )
        status = ExitStatus(self.report["run"]["exit_status"])
        tr.write_line(
            f"verdict: {status.name.lower().replace('_', '-')} (exit status {int(status)})"
        )


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


SECTION_RANK = {s.id: i for i, s in enumerate(SECTIONS)}


def _is_scenario(item: pytest.Item) -> bool:
    return any(m.name in SECTION_RANK for m in item.iter_markers())


def _guide_rank(item: pytest.Item) -> int:
    ranks = [SECTION_RANK[m.name] for m in item.iter_markers() if m.name in SECTION_RANK]
    return ranks[0] if ranks else len(SECTION_RANK)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Point JUnit and allure into the reports directory unless told otherwise."""
    out = Path(config.option.reports_dir)
    if getattr(config.option, "xmlpath", "missing") is None:
        config.option.xmlpath = str(out / "junit.xml")
    if getattr(config.option, "allure_report_dir", "missing") is None:
        config.option.allure_report_dir = str(out / "allure-results")
        config.option.clean_alluredir = True
    config.pluginmanager.register(RunbookPlugin(config), "runbook-report")
    for section in SECTIONS:
        config.addinivalue_line("markers", f"{section.id}: {section.title}")
    config.addinivalue_line("markers", "hosts: checks made inside the hosts, over SSH")


def plugin(config: pytest.Config) -> RunbookPlugin:
    return config.pluginmanager.get_plugin("runbook-report")


def evidence_json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)
