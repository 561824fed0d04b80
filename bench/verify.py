"""Benchmark: lab build (perform), verify runs and the nightly ``-m smoke`` run, with the
AWS calls one verify makes.

    .venv/bin/python bench/verify.py [--runs 5] [--profile profiles/lab.toml]

Prints the build time, the verify runs' wall time (in-process, every check, starting and
stopping the database for the host checks; the first run makes the Step Functions
simulation, later ones read it from the simulation cache as a new process would), the host
checks' own time
(SSH to the lab's real sshd, MySQL through the tunnel), and the calls per service:Operation of
one verify run, and the wall time of ``pytest -m smoke`` as a nightly job runs it (a new
process each time: interpreter, pytest, plugin, report, history). Figures only: nothing
asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from runbook.aws.inventory import _simulated
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
                _simulated.cache_clear()  # as a new process: the simulation or the cache's file
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
            smoke(
                args.runs,
                args.profile,
                {**build.lab_environment(url), **hosts.environment(Path(state))},
                state,
            )
            print(f"AWS calls per verify run: {sum(calls.values())} in {len(calls)} operations")
            for op, n in calls.items():
                print(f"  {n:3d}  {op}")
        finally:
            hosts.stop(Path(state))
            control.stop(Path(state))


def smoke(runs: int, profile: str, lab: dict[str, str], state: str) -> None:
    """``pytest -m smoke`` in a new process, as cron or CI starts it."""
    out = Path(state) / "reports"
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                f"--profile={profile}",
                "-m",
                "smoke",
                f"--reports-dir={out}",
            ],
            env={**os.environ, **lab},
            capture_output=True,
            check=False,
        )
        times.append(time.perf_counter() - t0)
    summary = json.loads((out / "summary.json").read_text())
    print(
        f"pytest -m smoke (new process): median {statistics.median(times):.2f} s, "
        f"max {max(times):.2f} s over {runs} runs; {summary['totals']}; "
        f"{sum(summary['aws_calls'].values())} AWS calls"
    )


if __name__ == "__main__":
    main()
