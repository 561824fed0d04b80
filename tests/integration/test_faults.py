"""Fault injection: each fault fails exactly the checks it names, and nothing else changes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runbook.aws.inventory import Inventory
from runbook.aws.session import open_session
from runbook.findings import Finding, Status
from runbook.lab import build
from runbook.lab.faults import FAULTS, World, judge
from runbook.profile import Profile
from runbook.registry import checks_in_guide_order
from runbook.run import Run

from .conftest import verify

pytestmark = pytest.mark.lab

# Checks no fault can reach in the lab: moto cannot represent the broken state, or the
# variant is not the lab's. Each is failed on recorded inventories in tests/unit instead.
NOT_INJECTABLE = {
    "root_account_has_no_access_keys",  # moto's account summary has no root keys
    "monthly_cost_estimate_within_budget",  # (injected with the NAT gateway fault)
    "subnets_exist_with_profile_cidrs",  # a subnet's CIDR cannot change
    "subnets_in_different_zones",  # nor its zone
    "database_image_is_amazon_linux",  # nor an instance's image
    "function_active_and_last_update_successful",  # moto functions are always Active
    "function_package_matches_variant",  # the package type cannot change
    "state_machine_active",  # moto machines are always ACTIVE
    # the lab's MariaDB is enabled at boot by the system's own init links, not the lab's
    "database_host_mysql_enabled_at_boot",
    # the lab cannot uninstall the system's package: test_hosts expects another version instead
    "database_host_mysql_installed_at_profile_version",
}


@pytest.fixture(scope="module")
def baseline(built_lab: Run, lab_profile: Profile) -> dict[str, Finding]:
    return verify(lab_profile).findings


@pytest.fixture
def healthy_afterwards(
    request: pytest.FixtureRequest,
    lab_profile: Profile,
    lab_url: str,
    baseline: dict[str, Finding],
) -> Iterator[None]:
    """Rebuild the lab unless the test left it healthy in the builder's shapes (perform repaired
    the fault); a correct shape the builder does not make is rebuilt too, as the catalogue's
    faults assume the builder's shapes."""
    yield
    fault = FAULTS[request.node.callspec.params["name"]]
    healthy = {c: f.status for c, f in baseline.items()}
    if not fault.breaks or fault.manual or statuses(verify(lab_profile)) != healthy:
        build.build(lab_profile, lab_url)


def statuses(run: Run) -> dict[str, Status]:
    return {c: f.status for c, f in run.findings.items()}


@pytest.mark.parametrize("name", sorted(n for n, f in FAULTS.items() if f.profile == "lab"))
def test_fault_fails_exactly_its_checks(
    name: str, lab_profile: Profile, baseline: dict[str, Finding], healthy_afterwards: None
) -> None:
    fault = FAULTS[name]
    reader = Inventory(open_session(lab_profile.region))
    fault.apply(World(open_session(lab_profile.region, writable=True), reader, lab_profile))
    after = verify(lab_profile).findings
    seen = judge(fault, baseline, after)
    assert seen.failing == fault.breaks, {cid: after[cid].summary for cid in seen.failing}
    assert seen.changed == dict.fromkeys(sorted(fault.errors), "error")
    assert seen.advised == fault.advises, {c: after[c].summary for c in fault.advises}
    # A fault belongs to one section; the nightly operations may also see its consequences, and
    # an exposure to the internet is reported where the security groups are, whatever made it.
    sections = {
        after[cid].section
        for cid in fault.breaks
        if after[cid].severity != "critical" and after[cid].section != "operations"
    }
    assert len(sections) <= 1 or name == "nat_gateway_left_running"
    # Perform restores the guide's state, unless the fix is a manual step (it would delete).
    if fault.breaks and not fault.manual:
        performed = Run(lab_profile, mode="perform")
        build.perform(performed)
        assert statuses(verify(lab_profile)) == {c: f.status for c, f in baseline.items()}
        # ... with exactly the AWS calls its plan named (what a dry run shows)
        planned = {
            ":".join(c.split()[:2])
            for f in performed.findings.values()
            for step in f.steps
            if step.state == "applied"
            for c in step.calls
            if not c.startswith("mysql ")
        }
        assert set(performed.mutating_calls()) == planned


def test_every_lab_check_has_a_fault(built_lab: Run, lab_profile: Profile) -> None:
    from runbook.engine import not_applicable

    lab_checks = {c.id for c in checks_in_guide_order() if not not_applicable(c, lab_profile)}
    from runbook.lab.history import HISTORY_FAULTS, LEFT_RUNNING
    from runbook.lab.host_faults import HOST_FAULTS

    covered = set().union(*(f.breaks for f in FAULTS.values() if f.profile == "lab"))
    covered |= set().union(*(f.breaks for f in HOST_FAULTS.values()))
    # the operations section's faults are unhealthy histories (tests/integration/test_operations.py)
    covered |= set().union(*(f.breaks for f in HISTORY_FAULTS.values()), {LEFT_RUNNING})
    assert lab_checks - covered - NOT_INJECTABLE == set()
    assert len(FAULTS) >= 40
