"""Benchmark: lab build (perform) and verify runs, with the AWS calls one verify makes.

    .venv/bin/python bench/verify.py [--runs 5] [--profile profiles/lab.toml]

Prints the build time, the verify runs' wall time (in-process, every check; the first run
includes the Step Functions simulation, later ones reuse it as a long-lived process would),
and the calls per service:Operation of one verify run. Figures only: nothing asserts a time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from runbook.aws.inventory import _simulated
from runbook.lab import build, control
from runbook.profile import load_profile
from runbook.registry import checks_in_guide_order
from runbook.run import Run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", default="profiles/lab.toml")
    args = parser.parse_args()
    profile = load_profile(args.profile)
    with tempfile.TemporaryDirectory() as state:
        url = control.start(Path(state))
        try:
            t0 = time.perf_counter()
            build.build(profile, url)
            print(f"lab build (perform, 3 passes): {time.perf_counter() - t0:.2f} s")
            times, calls = [], {}
            _simulated.cache_clear()  # the build ran it: make the first verify pay for it
            for _ in range(args.runs):
                t0 = time.perf_counter()
                run = Run(profile)
                for check in checks_in_guide_order():
                    run.check(check)
                times.append(time.perf_counter() - t0)
                calls = run.aws_calls()
            print(
                f"verify, {len(checks_in_guide_order())} checks: first {times[0]:.2f} s; "
                f"then median {statistics.median(times[1:] or times):.2f} s "
                f"over {max(len(times) - 1, 1)} runs"
            )
            print(f"AWS calls per verify run: {sum(calls.values())} in {len(calls)} operations")
            for op, n in calls.items():
                print(f"  {n:3d}  {op}")
        finally:
            control.stop(Path(state))


if __name__ == "__main__":
    main()
