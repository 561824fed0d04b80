"""Figures of the fault catalogue on the lab: how many faults the checks catch, and how many
exactly (only the checks the fault names fail, nothing else changes).

    .venv/bin/python bench/faults.py [--profile profiles/lab.toml] [--only NAME ...]

Builds the lab once, then for each of the profile's faults: applies it, verifies, judges the
verdicts (``runbook.lab.faults.judge``, as tests/integration/test_faults.py does), and rebuilds
the lab, so that no fault meets another's leftovers whatever the checks of the version measured
can see (about 20 s a fault).
Prints one line per fault and the totals: caught, exact, misattributed (caught, but other
checks failed or changed too, or some named ones did not fail). Figures only: nothing asserts.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from runbook.aws.inventory import Inventory
from runbook.aws.session import open_session
from runbook.lab import build, control, hosts
from runbook.lab.faults import FAULTS, World, judge
from runbook.profile import load_profile
from runbook.run import Run


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="profiles/lab.toml")
    parser.add_argument("--only", nargs="*", default=None, help="these faults only")
    args = parser.parse_args()
    profile = load_profile(args.profile)
    name = Path(args.profile).stem
    faults = [
        f for f in FAULTS.values() if f.profile == name and (not args.only or f.name in args.only)
    ]
    totals = {
        "faults": 0,
        "caught": 0,
        "exact": 0,
        "misattributed": 0,
        "crashed": 0,
        "to_repair": 0,
        "repaired": 0,
    }
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as state:
        url = control.start(Path(state))
        try:
            os.environ.update(hosts.start(Path(state), profile))
            build.build(profile, url)
            baseline = build.verify(profile).findings
            for fault in sorted(faults, key=lambda f: f.name):
                totals["faults"] += 1
                try:
                    world = World(
                        open_session(profile.region, writable=True),
                        Inventory(open_session(profile.region)),
                        profile,
                    )
                    fault.apply(world)
                except Exception as exc:  # a fault the deployment cannot take (figures only)
                    totals["crashed"] += 1
                    print(f"{fault.name}: could not apply ({type(exc).__name__}: {exc})"[:200])
                    build.build(profile, url)
                    continue
                seen = judge(fault, baseline, build.verify(profile).findings)
                caught, exact = seen.caught(fault), seen.exact(fault)
                totals["caught"] += caught
                totals["exact"] += exact
                totals["misattributed"] += caught and not exact
                verdict = "exact" if exact else "misattributed" if caught else "MISSED"
                detail = "" if exact else f" failing={sorted(seen.failing)} changed={seen.changed}"
                repair = ""
                if fault.breaks and caught:  # what perform makes of it
                    totals["to_repair"] += 1
                    build.perform(Run(profile, mode="perform"))
                    after = {c: f.status for c, f in build.verify(profile).findings.items()}
                    restored = after == {c: f.status for c, f in baseline.items()}
                    totals["repaired"] += restored
                    repair = "; perform restores it" if restored else "; perform: manual steps"
                print(f"{fault.name}: {verdict}{repair}{detail}", flush=True)
                build.build(profile, url)  # isolated: the next fault meets a fresh lab
        finally:
            hosts.stop(Path(state))
            control.stop(Path(state))
    print(
        f"{profile.name}: {totals['faults']} faults, {totals['caught']} caught, "
        f"{totals['exact']} exact, {totals['misattributed']} misattributed, "
        f"{totals['faults'] - totals['caught']} missed ({totals['crashed']} could not be "
        f"applied); perform restored {totals['repaired']} of the {totals['to_repair']} caught "
        f"faults; {time.perf_counter() - t0:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
