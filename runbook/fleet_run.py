"""A fleet verified in one process: its deployments several at once, each a read-only run of
the selected checks as pytest's would be (the same ``Run``, the same report files in
``<reports>/<deployment>/`` with its own history), and the fleet's summary over them.

Deployments of one account, region and identity share their AWS reads (each made once);
botocore's adaptive retry answers AWS's throttling. A deployment that cannot be checked at all
(credentials refused, an endpoint that does not answer) is one line of the summary, never the
end of the others.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runbook.aws.collected import SharedReads
from runbook.aws.session import open_session
from runbook.errors import CouldNotCheck, ExitStatus, UsageError
from runbook.fleet import Deployment
from runbook.narrative import markers
from runbook.preflight import aws_identity, preflight_deadline
from runbook.registry import Check, checks_in_guide_order
from runbook.report import model, writers
from runbook.report.output import ReportFiles
from runbook.run import Run
from runbook.waivers import load_waivers

# Deployments verified at once. Each prefetches with its own threads (runbook/run.py); more
# at once mostly wait on one another's CPU (the checks are judged in Python).
CONCURRENCY = 8
WAKE_S = 0.2  # how soon the fleet's main thread sees ``stop`` (set by a signal's handler)


@dataclass(frozen=True)
class FleetOptions:
    """What the command line says of every deployment's run."""

    checks: tuple[Check, ...]
    reports_dir: Path
    fail_on: str = "low"
    lookback_hours: int | None = None
    probe_egress: bool = False
    waivers: str | None = None
    ignore_waivers: bool = False
    blame: bool = False
    simulation_cache: Path | None = None
    concurrency: int = CONCURRENCY


@dataclass
class Verified:
    """One deployment's outcome: its report, or why it could not be checked at all."""

    deployment: Deployment
    report: dict[str, Any] | None = None
    cause: str | None = None  # the one line when the run could not start
    exit_status: int = int(ExitStatus.COULD_NOT_CHECK)
    duration_s: float = 0.0
    unwritten: dict[str, str] = field(default_factory=dict)


def selected_checks(expression: str | None) -> tuple[Check, ...]:
    """The checks ``-m`` selects, in the guide's order, by the markers pytest gives their
    scenarios (the expression was checked as the plugin checks it)."""
    from _pytest.mark.expression import Expression

    every = checks_in_guide_order()
    if not expression:
        return tuple(every)
    compiled = Expression.compile(expression)
    marks = markers()

    def chosen(check: Check) -> bool:
        return compiled.evaluate(lambda name, **_: name in marks.get(check.id, ()))

    return tuple(c for c in every if chosen(c))


def verify_fleet(
    deployments: list[Deployment],
    options: FleetOptions,
    *,
    told: Callable[[Verified], None] = lambda _: None,
    stop: threading.Event | None = None,
) -> list[Verified]:
    """Every deployment verified, at most ``options.concurrency`` at once; ``told`` hears of
    each as it ends. Once ``stop`` is set (a signal's handler sets it) no read nor check is
    started: what was checked is reported, marked interrupted, and the deployments not begun
    say so."""
    stop = stop or threading.Event()
    shared: dict[tuple[str | None, ...], SharedReads] = {}
    for d in deployments:
        shared.setdefault(d.account_key, SharedReads())

    def one(d: Deployment) -> Verified:
        done = _verify(d, options, shared[d.account_key], stop)
        with contextlib.suppress(Exception):  # the terminal is a view (a closed pipe)
            told(done)
        return done

    workers = max(1, min(options.concurrency, len(deployments)))
    pool = ThreadPoolExecutor(workers, thread_name_prefix="deployment")
    futures = [pool.submit(one, d) for d in deployments]
    while wait(futures, timeout=WAKE_S).not_done and not stop.is_set():
        pass
    # Interrupted: the runs under way stop at their next read or check, none begins.
    pool.shutdown(wait=True, cancel_futures=True)
    return [_outcome(f, d) for f, d in zip(futures, deployments, strict=True)]


def _outcome(future: Future[Verified], d: Deployment) -> Verified:
    if future.cancelled():
        return Verified(d, cause=NOT_BEGUN)
    error = future.exception()
    if error is not None:  # a defect outside _verify's own guard: still this one's line
        return Verified(d, cause=f"could not check: {type(error).__name__}: {error}"[:300])
    return future.result()


def _as(d: Deployment) -> str:
    """The deployment's own identity, where the fleet file gives one: what the cause is of."""
    said = [
        f"{key} {value}"
        for key, value in (
            ("endpoint_url", d.endpoint_url),
            ("aws_profile", d.aws_profile),
            ("role_arn", d.role_arn),
        )
        if value
    ]
    return f" (as {', '.join(said)})" if said else ""


NOT_BEGUN = "not checked: the fleet's run was interrupted before it began"


def _verify(
    d: Deployment, options: FleetOptions, shared: SharedReads, stop: threading.Event
) -> Verified:
    """One deployment's run and report; whatever goes wrong is its own line, never the end
    of the others."""
    t0 = time.monotonic()
    try:
        return _verified(d, options, shared, stop, t0)
    except Exception as exc:  # a defect: this deployment's line says it, the others go on
        cause = f"could not check: {type(exc).__name__}: {exc}"[:300]
        return Verified(d, cause=cause, duration_s=time.monotonic() - t0)


def _verified(
    d: Deployment, options: FleetOptions, shared: SharedReads, stop: threading.Event, t0: float
) -> Verified:
    if stop.is_set():
        return Verified(d, cause=NOT_BEGUN)
    profile = d.profile
    if options.lookback_hours is not None or options.probe_egress:
        from runbook.report.plugin import with_options

        hours = None if options.lookback_hours is None else str(options.lookback_hours)
        profile = with_options(profile, hours, options.probe_egress)
    t = profile.timeouts
    session = open_session(
        profile.region,
        connect_timeout=t.connect_s,
        read_timeout=t.read_s,
        max_attempts=t.max_attempts,
        endpoint_url=d.endpoint_url,
        aws_profile=d.aws_profile,
        role_arn=d.role_arn,
    )
    run = Run(profile, session=session, simulation_cache=options.simulation_cache)
    run.inventory.shared = shared
    run.fail_on = options.fail_on
    run.lookback_asked = options.lookback_hours is not None
    try:
        waivers = options.waivers or profile.waivers.file
        if waivers:
            run.waivers = load_waivers(waivers, run.started.date(), ignore=options.ignore_waivers)
        run.identify(aws_identity(session, preflight_deadline(session, t.run_s)))
        run.prefetch(options.checks, stop)
        run.learn_secret()
        for check in options.checks:
            if stop.is_set():
                break
            run.check(check)
        if options.blame and not stop.is_set():
            run.blame(model.all_findings(run))
    except (CouldNotCheck, UsageError) as exc:
        cause = f"could not check{_as(d)}: {exc}"
        return Verified(d, cause=cause, duration_s=time.monotonic() - t0)
    finally:
        run.close()
    interrupted = stop.is_set() and len(run.findings) < len(options.checks)
    report = model.build(run, exit_status=0)
    status = writers.exit_status(report)
    if interrupted and status == ExitStatus.HEALTHY:
        status = ExitStatus.COULD_NOT_CHECK  # not every check was made
    report["run"]["exit_status"] = int(status)
    report["run"]["interrupted"] = interrupted
    report["run"]["deployment"] = {"name": d.name, "tags": list(d.tags)}
    files = ReportFiles(options.reports_dir / d.name)
    files.write(run, report, interrupted=interrupted, quiet=interrupted)
    return Verified(
        d,
        report=report,
        exit_status=int(status),
        duration_s=time.monotonic() - t0,
        unwritten=files.unwritten,
    )
