"""The pytest plugin: options, the run shared by all scenarios, the report at the end.

Bad input is refused before anything is written: options, the ``-m`` expression, the reports
directory, the profile and the AWS credentials and endpoint (the preflight) are all checked
in our ``pytest_configure``, which runs before allure cleans its results directory and before
JUnit is set up; a refusal is one line and the documented exit status. Listings (``--help``,
``--markers``, ``--fixtures``) load no profile and touch no AWS; ``--collect-only`` loads the
profile but makes no AWS call. The report is written only when runbook scenarios ran.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import signal
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

import pytest
from _pytest.junitxml import xml_key
from _pytest.mark.expression import Expression
from pytest_bdd.scenario import scenario_wrapper_template_registry

from runbook.errors import CouldNotCheck, ExitStatus, UsageError
from runbook.options import RUN_OPTIONS, default_profile
from runbook.preflight import aws_identity, preflight_deadline
from runbook.profile import Profile, load_profile
from runbook.redact import install_log_redaction
from runbook.registry import SEVERITIES, Check, by_sentence
from runbook.report import model, writers
from runbook.report.allure_results import fresh_results, guard_allure
from runbook.report.output import ReportFiles
from runbook.run import Run
from runbook.sections import SECTIONS
from runbook.stepfunctions import cache
from runbook.waivers import load_waivers

MODES = ("verify", "perform")
# Markers besides the section ids.
EXTRA_MARKERS = {
    "hosts": "checks made inside the hosts, over SSH",
    "smoke": "the nightly run: operations plus the fast read-only checks that catch drift",
}
# An identifier of a -m expression, as pytest's grammar spells it.
MARKER_NAME = re.compile(r"[\w:+\-.\[\]\\/]+")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("runbook", "notifier runbook")
    group.addoption(
        "--mode",
        default="verify",  # checked in start(): argparse's refusal is several lines
        help="verify (read-only, default) or perform (fix what fails, then verify)",
    )
    for option in RUN_OPTIONS:  # the same options as `notifier-runbook verify --help`
        kwargs = dict(option.kwargs)
        if option.flag == "--profile":
            kwargs["default"] = default_profile()
        group.addoption(option.flag, help=option.help, **kwargs)


class RunbookPlugin:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.run: Run | None = None
        self.report: dict[str, Any] | None = None
        self.scenarios = False  # any runbook scenario left after selection
        self.unwritten: dict[str, str] = {}  # report files that could not be written, and why
        self.lease_broken: str | None = None  # whose perform lease --break-lease took over
        self.clean_allure = False  # the last run's allure results go once checks are selected
        self.nothing_selected: str | None = None  # the line that says the selection was empty

    def start(self) -> Run:
        """Check the invocation, load the profile, and (unless only collecting) ask AWS who
        the run is; UsageError or CouldNotCheck before anything is written."""
        opt = self.config.option
        workers = getattr(opt, "numprocesses", None)
        if workers:  # pytest-xdist: each worker would write its own part of one run's report
            raise UsageError(
                f"-n {workers} (pytest-xdist): one run's report is made by one process; "
                "run without -n"
            )
        if opt.mode not in MODES:
            raise UsageError(f"--mode {opt.mode!r}: expected one of {', '.join(MODES)}")
        if opt.dry_run and opt.mode != "perform":
            raise UsageError("--dry-run needs --mode perform")
        if opt.break_lease and (opt.mode != "perform" or opt.dry_run):
            raise UsageError("--break-lease needs --mode perform (a dry run takes no lease)")
        check_markers(opt.markexpr, [*SECTION_RANK, *EXTRA_MARKERS])
        check_reports_dir(Path(opt.reports_dir))
        profile = with_options(
            load_profile(opt.profile), opt.lookback_hours, opt.probe_egress, opt.dry_run
        )
        run = Run(
            profile,
            mode=opt.mode,
            dry_run=opt.dry_run,
            start_database=opt.start_database,
            simulation_cache=None if opt.no_cache else cache.default_dir(),
        )
        run.progress = self._progress
        run.lookback_asked = opt.lookback_hours is not None
        if opt.fail_on not in SEVERITIES:
            raise UsageError(f"--fail-on {opt.fail_on!r}: expected one of {', '.join(SEVERITIES)}")
        run.fail_on = opt.fail_on
        waivers = opt.waivers or profile.waivers.file
        if waivers:
            run.waivers = load_waivers(waivers, run.started.date(), ignore=opt.ignore_waivers)
        if not opt.collectonly:
            deadline = preflight_deadline(run.session, profile.timeouts.run_s)
            arn = aws_identity(run.session, deadline)
            run.identify(arn)
            if opt.mode == "perform" and not opt.dry_run:
                self.run = run  # closed at the end: the lease given back
                self.lease_broken = run.take_lease(arn, break_lease=opt.break_lease)
        self.run = run
        # TERM (cron, a CI time-out) and HUP (the terminal closed) end the run as Ctrl-C does:
        # a database it started is stopped, a probe deleted, what was checked reported.
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, _interrupt)
        return self.run

    def _progress(self, line: str) -> None:
        """A perform's step as it is applied: on the terminal at once, on a line of its own
        (after pytest's progress dots), not captured with the scenario's output."""
        capture = self.config.pluginmanager.getplugin("capturemanager")
        writer = self.config.get_terminal_writer()

        def write() -> None:
            if writer.width_of_current_line:
                writer.line()
            writer.line(line)

        if capture is None:
            write()
            return
        with capture.global_and_fixture_disabled():
            write()

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, items: list[pytest.Item]
    ) -> None:
        self.scenarios = any(_is_scenario(i) for i in items)
        items.sort(key=_guide_rank)  # stable: scenarios keep their order within a feature
        if self.run is None or self.config.option.collectonly:
            return
        opt = self.config.option
        out = opt.reports_dir
        if not items and not session.testsfailed and (opt.markexpr or opt.keyword):
            # A selection that matches nothing is a mistake, not a run: the last run's reports
            # stay as they were (JUnit's writer is taken away before it writes an empty file).
            xml = self.config.stash.get(xml_key, None)
            if xml is not None:
                del self.config.stash[xml_key]
                self.config.pluginmanager.unregister(xml)
            self.nothing_selected = (
                f"usage error: no check selected{_selection(opt)}: nothing was "
                f"run and the reports in {out} are as they were; `pytest --markers` lists "
                "the sections"
            )
            return
        if self.clean_allure and items:  # now that this run has checks to report
            try:
                fresh_results(Path(opt.allure_report_dir))
            except OSError as exc:
                self.unwritten[opt.allure_report_dir] = exc.strerror or str(exc)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """The selected checks' reads begin, several at once, while pytest goes on to run the
        checks in order (``Run.prefetch``)."""
        if self.run is not None and not self.config.option.collectonly:
            self.run.prefetch(checks_of(session.items))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        """The secret known to the redaction before the first check (``Run.learn_secret``)."""
        if self.run is not None and not self.config.option.collectonly and session.items:
            self.run.learn_secret()

    @pytest.hookimpl(tryfirst=True)  # the deployment's report before JUnit's and allure's
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
        opt = self.config.option
        if self.nothing_selected:
            session.exitstatus = int(ExitStatus.USAGE_ERROR)  # not pytest's 5: a mistake
            return
        if self.run is None or not self.scenarios or opt.collectonly:
            return
        if exitstatus == pytest.ExitCode.USAGE_ERROR:
            return
        # Interrupted (Ctrl-C, TERM, HUP): what was checked is still reported, marked so;
        # nothing is compared, recorded or announced (half a run is no news).
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
        if opt.blame and not interrupted:
            self.run.blame(model.all_findings(self.run))
        report = model.build(self.run, exit_status=0)
        status = writers.exit_status(report)
        if status == ExitStatus.HEALTHY and exitstatus in (
            pytest.ExitCode.TESTS_FAILED,
            pytest.ExitCode.INTERRUPTED,
        ):
            status = ExitStatus.COULD_NOT_CHECK  # not every check was made
        report["run"]["exit_status"] = int(status)
        report["run"]["interrupted"] = interrupted
        session.exitstatus = int(status)
        self.report = report
        files = ReportFiles(Path(opt.reports_dir), self.unwritten)
        files.write(self.run, report, interrupted=interrupted, quiet=opt.dry_run or interrupted)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.nothing_selected:
            terminalreporter.write_line(self.nothing_selected, red=True)
        if self.report is None:
            return
        tr = terminalreporter
        tr.section("notifier deployment health")
        if self.lease_broken:
            tr.write_line(f"WARNING: {self.lease_broken}")
        for line in writers.table(self.report):
            tr.write_line(line)
        for line in writers.problems(self.report) + writers.blame_lines(self.report):
            tr.write_line(line)
        for line in writers.plan_lines(self.report):
            tr.write_line(line)
        for line in writers.waiver_lines(self.report) + writers.not_judged_line(self.report):
            tr.write_line(line)
        for line in writers.history_lines(self.report):
            tr.write_line(line)
        calls = sum(self.report["aws_calls"].values())
        lease = sum(self.report["lease_calls"].values())
        tr.write_line(
            f"AWS calls: {calls} ({len(self.report['aws_calls'])} operations); "
            f"mutating: {sum(self.report['mutating_calls'].values())}"
            + (f" (and {lease} for the perform lease)" if lease else "")
            + f"; report: {self.config.option.reports_dir}/report.html, summary.json, summary.md"
        )
        tr.write_line(writers.verdict(self.report))
        for path, why in self.unwritten.items():
            tr.write_line(
                f"WARNING: could not write {path} ({why}): the verdict above stands; "
                "free space or fix the reports folder",
                red=True,
            )


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


SECTION_RANK = {s.id: i for i, s in enumerate(SECTIONS)}


def checks_of(items: list[pytest.Item]) -> list[Check]:
    """The checks the items will run, in order: each scenario's ``Then`` sentences."""
    found = []
    for item in items:
        scenario = scenario_wrapper_template_registry.get(getattr(item, "obj", None))
        for step in scenario.steps if scenario is not None else ():
            if step.type == "then":
                with contextlib.suppress(LookupError):  # pytest reports an unknown sentence
                    found.append(by_sentence(step.name))
    return found


def _is_scenario(item: pytest.Item) -> bool:
    return any(m.name in SECTION_RANK for m in item.iter_markers())


def _guide_rank(item: pytest.Item) -> int:
    ranks = [SECTION_RANK[m.name] for m in item.iter_markers() if m.name in SECTION_RANK]
    return ranks[0] if ranks else len(SECTION_RANK)


def check_markers(expression: str, known: Sequence[str]) -> None:
    """``-m`` must parse and name only known markers: pytest would run nothing and exit 5."""
    if not expression:
        return
    valid = ", ".join(known)
    try:
        Expression.compile(expression)  # pytest's own parser: the same verdict as pytest's
    except SyntaxError as exc:
        raise UsageError(
            f"-m {expression!r} is not a marker expression ({exc.msg} at column {exc.offset}); "
            f'e.g. -m "vpc or trigger" with markers {valid}'
        ) from None
    names = [n for n in MARKER_NAME.findall(expression) if n not in ("and", "or", "not")]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(
            f"-m {expression!r}: unknown section marker {unknown[0]!r}; valid: {valid}"
        )


def with_options(
    profile: Profile, lookback_hours: str | None, probe_egress: bool, dry_run: bool = False
) -> Profile:
    """The profile with what the command line overrides; a dry run never probes (it would
    create a function)."""
    operations, probe = profile.operations, profile.probe
    if lookback_hours is not None:
        hours = int(lookback_hours) if re.fullmatch(r"[0-9]{1,4}", lookback_hours) else 0
        if not 0 < hours <= 24 * 14:
            raise UsageError(
                f"--lookback-hours {lookback_hours!r}: expected whole hours from 1 to 336"
            )
        operations = operations.model_copy(update={"lookback_hours": hours})
    if probe_egress or dry_run:
        probe = probe.model_copy(update={"enabled": probe_egress and not dry_run})
    return profile.model_copy(update={"operations": operations, "probe": probe})


def check_reports_dir(path: Path) -> None:
    """The reports directory, or the nearest parent that exists, must be a writable directory;
    checked without creating anything."""
    existing = next(p for p in (path.absolute(), *path.absolute().parents) if os.path.lexists(p))
    if not existing.is_dir():
        raise UsageError(
            f"--reports-dir {path}: {existing} is not a directory; pass a directory you can write"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(
            f"--reports-dir {path}: {existing} is not writable; pass a directory you can write"
        )


def _listing_only(config: pytest.Config) -> bool:
    """Invocations that only print pytest's help or listings: no run to start."""
    opt = config.option
    names = ("help", "version", "markers", "showfixtures", "show_fixtures_per_test")
    return any(getattr(opt, name, False) for name in names)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Refuse bad input first, then point JUnit and allure into the reports directory.

    tryfirst: this runs before allure's pytest_configure cleans its results directory and
    before JUnit's registers its writer, so a refused run leaves the reports untouched.
    """
    install_log_redaction(dict(os.environ))  # before anything can log a secret
    markers = {**{s.id: s.title for s in SECTIONS}, **EXTRA_MARKERS}
    for name, says in markers.items():
        config.addinivalue_line("markers", f"{name}: {says}")
    runbook = RunbookPlugin(config)
    if not _listing_only(config):
        try:
            runbook.start()
        except UsageError as exc:
            pytest.exit(f"usage error: {exc}", returncode=int(ExitStatus.USAGE_ERROR))
        except CouldNotCheck as exc:
            pytest.exit(f"could not check: {exc}", returncode=int(ExitStatus.COULD_NOT_CHECK))
    config.pluginmanager.register(runbook, "runbook-report")
    out = Path(config.option.reports_dir)
    if getattr(config.option, "xmlpath", "missing") is None:
        config.option.xmlpath = str(out / "junit.xml")
    if getattr(config.option, "allure_report_dir", "missing") is None:
        config.option.allure_report_dir = str(out / "allure-results")
        runbook.clean_allure = True  # not at once (allure's own clean): a run may select nothing
    if getattr(config.option, "allure_report_dir", None):
        guard_allure(Path(config.option.allure_report_dir), runbook.unwritten.__setitem__)


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> Generator[None]:
    """JUnit's file written at the end (pytest's own writer) on a full disk: removed rather than
    left cut short, and said in one line like the other reports, not an INTERNALERROR. Only
    JUnit's own failure is taken: any other hook's error goes on as before."""
    try:
        return (yield)
    except OSError as exc:
        junit = getattr(session.config.option, "xmlpath", None)
        runbook = plugin(session.config)
        if not (junit and runbook is not None and _raised_in(exc, "_pytest.junitxml")):
            raise
        with contextlib.suppress(OSError):
            Path(junit).unlink()
        runbook.unwritten[junit] = exc.strerror or str(exc)
        return None


def _raised_in(exc: BaseException, module: str) -> bool:
    """Whether ``exc`` was raised by code of ``module`` (its traceback passes through it)."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__") == module:
            return True
        tb = tb.tb_next
    return False


def _selection(opt: Any) -> str:
    said = [
        f"{flag} {value!r}" for flag, value in (("-m", opt.markexpr), ("-k", opt.keyword)) if value
    ]
    return f" by {' '.join(said)}" if said else ""


def name_the_case(item: pytest.Item, section: str, check_id: str) -> None:
    """JUnit's test case of a scenario is its check's: class ``notifier.<section>``, name the
    check id (not ``features.test_guide`` for every case)."""
    xml = item.config.stash.get(xml_key, None)
    if xml is not None:
        case = xml.node_reporter(item.nodeid)
        case.add_attribute("classname", f"notifier.{section}")
        case.add_attribute("name", check_id)


def plugin(config: pytest.Config) -> RunbookPlugin:
    return config.pluginmanager.get_plugin("runbook-report")


def evidence_json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """The run is over: what it made is left out of the collections pytest makes as it
    closes (its unraisable-exception check collects over every object: ~0.9 s of a verify)."""
    gc.freeze()
