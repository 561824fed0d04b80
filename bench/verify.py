"""Benchmark: lab build (perform), verify runs and the nightly ``-m smoke`` run, with the
AWS calls one verify makes, at 0 and 100 ms a request.

    .venv/bin/python bench/verify.py [--runs 5] [--profile profiles/lab.toml]   (make bench)

Prints the build time; the verify runs' wall time in-process (every check, starting and
stopping the database for the host checks; the first run makes the Step Functions
simulation, later ones read it from the simulation cache as a new process would); the host
checks' own time (SSH to the lab's real sshd, MySQL through the tunnel); a table of runs as a
nightly job or an operator starts them (a new process each: interpreter, pytest, plugin,
report, history) through a proxy that holds each AWS request 0 or 100 ms (bench/latency.py),
with the requests made, the most in flight at once and the peak memory, and the same verify
with its reads made in order for comparison; then the calls per service:Operation of one
verify run. Figures only: nothing asserts a time.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from latency import LatencyProxy

from runbook.aws.inventory import _SIMULATED
from runbook.lab import build, control, hosts
from runbook.profile import load_profile
from runbook.registry import checks_in_guide_order
from runbook.run import Run
from runbook.stepfunctions import cache


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", default="profiles/lab.toml")
    args = parser.parse_args()
    profile = load_profile(args.profile)
    with tempfile.TemporaryDirectory() as state:
        os.environ["XDG_CACHE_HOME"] = str(Path(state) / "cache")  # never the user's cache
        url = control.start(Path(state))
        try:
            os.environ.update(hosts.start(Path(state), profile))
            t0 = time.perf_counter()
            build.build(profile, url)
            print(f"lab build (perform, 3 passes): {time.perf_counter() - t0:.2f} s")
            times, calls = [], {}
            shutil.rmtree(cache.default_dir(), ignore_errors=True)  # the build kept it there
            for _ in range(args.runs):
                _SIMULATED.clear()  # as a new process: the simulation or the cache's file
                t0 = time.perf_counter()
                run = build.verify(profile, start_database=True)
                times.append(time.perf_counter() - t0)
                calls = run.aws_calls()
            host_checks = [c for c in checks_in_guide_order() if c.fn.__module__ == "checks.hosts"]
            host_times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                run = Run(profile, start_database=True)
                for check in host_checks:
                    run.check(check)
                run.close()
                host_times.append(time.perf_counter() - t0)
            print(
                f"verify, {len(checks_in_guide_order())} checks: first (simulated) "
                f"{times[0]:.2f} s; then (the simulation read from the cache) median "
                f"{statistics.median(times[1:] or times):.2f} s over {max(len(times) - 1, 1)} runs"
            )
            print(
                f"host checks alone ({len(host_checks)}, SSH + MySQL through the tunnel, with "
                f"the database's start and stop): median {statistics.median(host_times):.2f} s, "
                f"max {max(host_times):.2f} s over {len(host_times)} runs"
            )
            lab = {**build.lab_environment(url), **hosts.environment(Path(state))}
            made = at_latency(args.runs, args.profile, lab, state)
            fleets(args.runs, args.profile, lab, state)
            versus_minimal(made)
            print(
                f"AWS calls of a verify with the host checks (and the database's start and "
                f"stop): {sum(calls.values())} in {len(calls)} operations"
            )
        finally:
            hosts.stop(Path(state))
            control.stop(Path(state))


# The runs of the table: what a nightly job or an operator starts, each a new process.
RUNS = {
    "verify (-m 'not hosts')": ["-m", "not hosts"],
    "smoke (-m smoke)": ["-m", "smoke"],
}
# The same run with the reads made one after the other (Run.prefetch off), for comparison.
IN_ORDER = "import runbook.run as r; r.Run.prefetch = lambda self, checks, stop=None: None; "


MINIMAL = Path(__file__).with_name("minimal-reads.toml")


def versus_minimal(calls: dict[str, int]) -> None:
    """A verify's calls (-m 'not hosts', the table's first run) beside the minimal reads kept
    in bench/minimal-reads.toml (each with why it is needed): what the run makes beyond."""
    minimal = {r["operation"]: r for r in tomllib.loads(MINIMAL.read_text())["read"]}
    need = sum(r["calls"] for r in minimal.values())
    print(
        f"AWS calls of a verify (-m 'not hosts'): {sum(calls.values())} in {len(calls)} "
        f"operations; the minimal reads ({MINIMAL.name}): {need} in "
        f"{sum(1 for r in minimal.values() if r['calls'])} operations"
    )
    print("| operation | made | minimal | beyond it: why, and how it could go |")
    print("| --- | --- | --- | --- |")
    for op in sorted(set(calls) | set(minimal)):
        made, read = calls.get(op, 0), minimal.get(op, {})
        if made != read.get("calls", 0):
            why = read.get("note") or read.get("why") or "not in the minimal set"
            print(f"| {op} | {made} | {read.get('calls', 0)} | {why} |")


def at_latency(runs: int, profile: str, lab: dict[str, str], state: str) -> dict[str, int]:
    """The table of the runs above through the latency proxy (bench/latency.py) at 0 and
    100 ms a request: wall time (median), AWS requests, most in flight at once, the dependency
    rounds the run made and so its critical path (rounds x delay), peak memory. Returns the
    calls of the first run (a verify without the host checks)."""
    out = Path(state) / "latency-reports"
    first: dict[str, int] = {}
    chains: dict[str, list[str]] = {}
    print(
        "| run | delay | wall (median) | requests | most in flight | rounds | critical path "
        "| wall / critical path | peak memory |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for delay in (0.0, 0.1):
        proxy = LatencyProxy(lab["AWS_ENDPOINT_URL"], delay)
        env = {**os.environ, **lab, "AWS_ENDPOINT_URL": proxy.start()}
        try:
            for name, args in RUNS.items():
                for reads, prefix in (("", ""), (", reads in order", IN_ORDER)):
                    if prefix and "smoke" in name:
                        continue
                    argv = [f"--profile={profile}", f"--reports-dir={out}", *args]
                    wall, peak = _median_of(
                        runs, proxy, functools.partial(_timed, prefix + PYTEST, argv, env)
                    )
                    print(f"| {name}{reads} | {_row(delay, wall, peak, proxy)} |")
                    if delay and not reads:
                        chains[name] = proxy.longest_chain()
                    if not first:
                        first = json.loads((out / "summary.json").read_text())["aws_calls"]
        finally:
            proxy.stop()
    for name, chain in chains.items():
        print(f"the longest chain of {name} at 100 ms ({len(chain)}): {' -> '.join(chain)}")
    return first


def _row(delay: float, wall: float, peak: int, proxy: LatencyProxy) -> str:
    rounds = proxy.rounds()
    critical = rounds * delay
    ratio = f"{wall / critical:.1f}" if critical else "-"
    return (
        f"{delay * 1000:.0f} ms | {wall:.2f} s | {proxy.requests} | {proxy.most_in_flight} | "
        f"{rounds} | {critical:.1f} s | {ratio} | {peak / 1024:.0f} MiB"
    )


def _median_of(
    runs: int, proxy: LatencyProxy, run: Callable[[], tuple[float, int]]
) -> tuple[float, int]:
    """The median wall time and the largest peak of ``runs`` runs (the proxy's counts: the
    last run's)."""
    times, peaks = [], []
    for _ in range(runs):
        proxy.reset()
        wall, peak = run()
        times.append(wall)
        peaks.append(peak)
    return statistics.median(times), max(peaks)


FLEET_SIZE = 20


def fleets(runs: int, profile: str, lab: dict[str, str], state: str) -> None:
    """One deployment, and a fleet of 20 on the lab in one process (notifier-runbook verify
    --fleet, -m 'not hosts'): all of one identity (their reads shared), and each with an
    identity of its own (a named AWS profile each: nothing shared, 20 times the reads); then
    that fleet as two shards run at once (two processes, one a core here) and merged."""
    folder = Path(state) / "fleets"
    folder.mkdir(exist_ok=True)
    config = folder / "aws-config"
    config.write_text(
        "".join(
            f"[profile d{i}]\naws_access_key_id = d{i}\naws_secret_access_key = x\n"
            for i in range(FLEET_SIZE)
        )
    )
    head = f'[defaults]\nprofile = "{Path(profile).absolute()}"\n'
    files = {
        "1 deployment": head + '[[deployment]]\nname = "d0"\n',
        f"{FLEET_SIZE}, one identity (reads shared)": head
        + "".join(f'[[deployment]]\nname = "d{i}"\n' for i in range(FLEET_SIZE)),
        f"{FLEET_SIZE}, an identity each": head
        + "".join(
            f'[[deployment]]\nname = "d{i}"\naws_profile = "d{i}"\n' for i in range(FLEET_SIZE)
        ),
    }
    print(
        "| fleet (-m 'not hosts') | delay | wall (median) | requests | most in flight | rounds "
        "| critical path | wall / critical path | peak memory | wall / one deployment's |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for delay in (0.0, 0.1):
        proxy = LatencyProxy(lab["AWS_ENDPOINT_URL"], delay)
        env = {
            **os.environ,
            **lab,
            "AWS_ENDPOINT_URL": proxy.start(),
            "AWS_CONFIG_FILE": str(config),
        }
        try:
            one = None
            for name, text in files.items():
                path = folder / f"{len(text)}.toml"
                path.write_text(text)
                args = ["verify", "--fleet", str(path), "-m", "not hosts"]
                args.append(f"--reports-dir={folder / 'reports'}")
                wall, peak = _median_of(runs, proxy, functools.partial(_timed, CLI, args, env))
                one = one or wall
                print(f"| {name} | {_row(delay, wall, peak, proxy)} | {wall / one:.1f} |")
            each = folder / f"{len(files[f'{FLEET_SIZE}, an identity each'])}.toml"
            shards = functools.partial(_sharded, each, folder / "shards", env)
            wall, peak = _median_of(runs, proxy, shards)
            name = f"{FLEET_SIZE}, an identity each: 2 shards at once + merge"
            print(f"| {name} | {_row(delay, wall, peak, proxy)} | {wall / (one or wall):.1f} |")
        finally:
            proxy.stop()


def _sharded(fleet: Path, out: Path, env: dict[str, str]) -> tuple[float, int]:
    """The fleet as two shards verified at once (``--shard 1/2`` and ``2/2``, a process each),
    then ``notifier-runbook merge``: the wall time of all of it and the largest peak."""
    t0 = time.perf_counter()
    args = ["verify", "--fleet", str(fleet), "-m", "not hosts"]
    with ThreadPoolExecutor(2) as pool:
        peaks = list(
            pool.map(
                lambda k: _timed(
                    CLI, [*args, "--shard", f"{k}/2", f"--reports-dir={out / str(k)}"], env
                )[1],
                (1, 2),
            )
        )
    _timed(CLI, ["merge", str(out / "1"), str(out / "2"), f"--reports-dir={out / 'all'}"], env)
    return time.perf_counter() - t0, max(peaks)


PYTEST = "import sys, pytest; rc = pytest.main(sys.argv[1:]); "
CLI = "import sys; from runbook.cli import main; rc = main(sys.argv[1:]); "


def _timed(script: str, args: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall time and peak resident memory (KiB) of one run in a new process, as cron or CI
    starts it. The peak is the run's own (its VmHWM, which it writes when done): a child's
    ru_maxrss would count this large parent's pages from before the exec."""
    with tempfile.NamedTemporaryFile("r") as peak:
        script += (
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')]; "
            f"open({peak.name!r}, 'w').write(hwm[0].split()[1]); sys.exit(rc)"
        )
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", script, *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        wall = time.perf_counter() - t0
        return wall, int(peak.read() or 0)


if __name__ == "__main__":
    main()
