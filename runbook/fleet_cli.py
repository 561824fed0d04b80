"""``notifier-runbook verify --fleet FILE`` and ``notifier-runbook merge DIR...``: the command
line of a fleet (runbook/fleet.py: the file; fleet_run.py: the runs; report/fleet_summary.py:
the summary). Every mistake is refused in one line before any AWS call or file is made."""

from __future__ import annotations

import argparse
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runbook.errors import ExitStatus, UsageError
from runbook.fleet import load_fleet, parse_shard, select, shard
from runbook.fleet_run import CONCURRENCY, FleetOptions, Verified, selected_checks, verify_fleet
from runbook.report import fleet_summary

FLEET_ONLY = ("deployment", "tag", "shard", "concurrency")
NOT_WITH_FLEET = {
    "profile": "--profile: a fleet names each deployment's profile in its file",
    "start_database": "--start-database: a fleet does not start databases (one instance could "
    "be started by two deployments' runs); verify that deployment alone with it",
}


def add_fleet_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fleet", help="verify every deployment of this fleet file (TOML) at once")
    p.add_argument(
        "--deployment",
        action="append",
        metavar="NAME",
        help="with --fleet: only this deployment (repeat for more)",
    )
    p.add_argument(
        "--tag",
        action="append",
        metavar="TAG",
        help="with --fleet: only the deployments with this tag (repeat: with every one)",
    )
    p.add_argument(
        "--shard",
        metavar="K/N",
        help="with --fleet: only the K-th of N shards (a deployment's shard depends on its "
        "name alone); `notifier-runbook merge` joins the shards' summaries",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        metavar="N",
        help=f"with --fleet: deployments verified at once (default {CONCURRENCY})",
    )


def refusal(ns: argparse.Namespace, extra: list[str]) -> str | None:
    """Why this invocation is not a fleet's run it could be, or None."""
    if not ns.fleet:
        given = [f"--{k}" for k in FLEET_ONLY if getattr(ns, k, None) is not None]
        return f"{given[0]} needs --fleet FILE" if given else None
    if ns.command != "verify":
        return "--fleet: a fleet is verified, never performed; perform one profile at a time"
    for key, why in NOT_WITH_FLEET.items():
        if getattr(ns, key, None):
            return why
    if extra:
        return "--fleet: pytest's options (after --) do not apply, a fleet runs outside pytest"
    if ns.concurrency is not None and not 1 <= ns.concurrency <= 64:
        return f"--concurrency {ns.concurrency}: expected 1 to 64"
    return None


def cmd_fleet(ns: argparse.Namespace) -> int:
    from runbook.registry import SEVERITIES
    from runbook.report.plugin import (
        EXTRA_MARKERS,
        SECTION_RANK,
        check_markers,
        check_reports_dir,
        with_options,
    )
    from runbook.stepfunctions import cache
    from runbook.waivers import load_waivers

    out = Path(ns.reports_dir or "reports")
    check_reports_dir(out)
    check_markers(ns.section, [*SECTION_RANK, *EXTRA_MARKERS])
    fail_on = ns.fail_on or "low"
    if fail_on not in SEVERITIES:
        raise UsageError(f"--fail-on {fail_on!r}: expected one of {', '.join(SEVERITIES)}")
    which = parse_shard(ns.shard) if ns.shard else None
    chosen = select(load_fleet(ns.fleet), ns.deployment, ns.tag)
    if which is not None:
        chosen = shard(chosen, which)
    shards = [f"{which[0]}/{which[1]}" if which else "1/1"]
    for d in chosen:  # every deployment's options and waivers read before any is checked
        profile = with_options(d.profile, ns.lookback_hours, False)
        waivers = ns.waivers or profile.waivers.file
        if waivers:
            load_waivers(waivers, datetime.now(UTC).date(), ignore=ns.ignore_waivers)
    options = FleetOptions(
        checks=selected_checks(ns.section),
        reports_dir=out,
        fail_on=fail_on,
        lookback_hours=None if ns.lookback_hours is None else int(ns.lookback_hours),
        probe_egress=bool(ns.probe_egress),
        waivers=ns.waivers,
        ignore_waivers=bool(ns.ignore_waivers),
        blame=bool(ns.blame),
        simulation_cache=None if ns.no_cache else cache.default_dir(),
        concurrency=ns.concurrency or CONCURRENCY,
    )
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.monotonic()
    print(f"verifying {len(chosen)} deployment(s) of {ns.fleet}" + _share(ns.shard), flush=True)
    lock = threading.Lock()
    ended: list[Verified] = []

    def told(v: Verified) -> None:
        with lock:
            ended.append(v)
            word = fleet_summary.VERDICTS[v.exit_status]
            line = f"[{len(ended)}/{len(chosen)}] {v.deployment.name}: {word}"
            print(
                f"{line} ({v.duration_s:.1f} s)" + (f"; {v.cause}" if v.cause else ""), flush=True
            )

    interrupted = _interrupting()
    try:
        verified = verify_fleet(chosen, options, told=told, stop=interrupted)
        rows = [_row(v) for v in verified]
        fleet = fleet_summary.summary(
            rows, started=started, duration_s=time.monotonic() - t0, shards=shards
        )
        if interrupted.is_set():
            fleet["run"]["interrupted"] = True
            if fleet["exit_status"] == int(ExitStatus.HEALTHY):
                fleet["exit_status"] = int(ExitStatus.COULD_NOT_CHECK)
        unwritten = fleet_summary.write(out, fleet)
    finally:
        _restore()
    for v in verified:
        unwritten.update(v.unwritten)
    for line in fleet_summary.lines(fleet, out):
        print(line)
    for path, why in unwritten.items():
        print(f"WARNING: could not write {path} ({why}): the verdict above stands")
    return int(fleet["exit_status"])


def _row(v: Verified) -> dict[str, Any]:
    return fleet_summary.entry(
        v.deployment.name,
        v.deployment.tags,
        report=v.report,
        cause=v.cause,
        exit_status=v.exit_status,
        folder=v.deployment.name,
        duration_s=v.duration_s,
    )


def _share(text: str | None) -> str:
    return f" (shard {text})" if text else ""


_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_BEFORE: dict[int, Any] = {}


def _interrupting() -> threading.Event:
    """INT (Ctrl-C), TERM and HUP end a fleet's run: they set the event the runs watch (they
    make no new read nor check, and report what they checked); nothing is raised, so the
    summary is written whenever they come (a CI cancel sends INT, then TERM)."""
    stop = threading.Event()

    def interrupt(signum: int, frame: Any) -> None:
        stop.set()

    for signum in _SIGNALS:
        _BEFORE[signum] = signal.signal(signum, interrupt)
    return stop


def _restore() -> None:
    for signum, handler in _BEFORE.items():
        signal.signal(signum, handler)


def cmd_merge(ns: argparse.Namespace, extra: list[str]) -> int:
    """The shards' summaries as one: fleet.json and fleet.html in --reports-dir."""
    from runbook.report.plugin import check_reports_dir

    out = Path(ns.reports_dir)
    check_reports_dir(out)
    fleet = fleet_summary.merge([Path(d) for d in ns.folders], out)
    unwritten = fleet_summary.write(out, fleet)
    for line in fleet_summary.lines(fleet, out):
        print(line)
    for path, why in unwritten.items():
        print(f"WARNING: could not write {path} ({why}): the verdict above stands")
    return int(fleet["exit_status"])
