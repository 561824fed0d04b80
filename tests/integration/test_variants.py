"""Every variant the profile can pick is built by perform, verifies healthy, and its own
checks are shown failing on a fault. Runs after the lab tests: it rebuilds the lab last."""

from __future__ import annotations

import pytest

from runbook.aws.inventory import Inventory
from runbook.aws.session import open_session
from runbook.engine import not_applicable
from runbook.findings import Status
from runbook.lab import build
from runbook.lab.faults import FAULTS, World
from runbook.profile import load_profile
from runbook.registry import checks_in_guide_order
from runbook.run import Run

from .conftest import LAB_PROFILE, ROOT, in_the_lab, outside_policy, verify

pytestmark = pytest.mark.lab

VARIANTS = [
    "example-aurora-serverless-v1",
    "example-aurora-serverless-v2",
    "example-nat-gateway",
    "example-nat-instance",
    "notifier-current",  # today's notifier (upstream, 2026): the lab plays it too
    "example-instance-connect-endpoint",  # today's ways into the VPC (Cloud9 is closed)
    "example-session-manager",
]


@pytest.mark.parametrize("name", VARIANTS)
def test_variant_builds_healthy_and_its_faults_are_caught(
    name: str, lab_url: str, built_lab: Run
) -> None:
    lab = load_profile(LAB_PROFILE)
    profile = in_the_lab(load_profile(ROOT / "profiles" / f"{name}.toml"), lab)
    try:
        build.build(profile, lab_url)
        run = verify(profile, start_database=True)
        assert outside_policy(run) == set()
        healthy = run.findings
        bad = {c: f.summary for c, f in healthy.items() if f.status in (Status.FAIL, Status.ERROR)}
        assert bad == {}
        for check in checks_in_guide_order():
            reason = not_applicable(check, profile)
            assert (healthy[check.id].status == Status.SKIP) == bool(reason) or (
                check.id == "function_code_matches_local_zip"
            ), check.id
        again = Run(profile, mode="perform")
        build.perform(again)
        assert again.mutating_calls() == {}
        for fault in (f for f in FAULTS.values() if f.profile == name):
            build.build(profile, lab_url)
            reader = Inventory(open_session(profile.region))
            fault.apply(World(open_session(profile.region, writable=True), reader, profile))
            found = verify(profile, start_database=True).findings  # agents report while it runs
            failing = {c for c, f in found.items() if f.status == Status.FAIL}
            assert failing == set(fault.breaks), fault.name
    finally:
        build.build(load_profile(LAB_PROFILE), lab_url)
