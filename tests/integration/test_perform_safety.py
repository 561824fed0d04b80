"""Perform is safe to interrupt: killed between two of its calls, it converges when run again,
makes nothing twice, and the perform after that changes nothing.

The kill lands where the test chooses: the process under test holds just before one AWS call
(tests/integration/hold_at.py) and the test kills it there with SIGKILL, which no handler sees.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbook.findings import Status
from runbook.lab import build
from runbook.lab.faults import FAULTS
from runbook.profile import Profile
from runbook.run import Run

from .conftest import LAB_PROFILE, ROOT, break_lab, verify
from .hold_at import HOLD_ENV, MARKER_ENV

pytestmark = pytest.mark.lab

# Five sections broken, each repaired by a perform action; perform meets them in this order.
BROKEN = (
    "group_policy_missing",  # iam: attach the policy again
    "internet_group_default_egress_restored",  # security groups: revoke the extra outbound rule
    "function_default_timeout",  # lambda: set the timeout
    "rule_left_disabled",  # trigger: put the rule, enabled
    "lambda_eni_without_elastic_ip",  # egress: allocate an address, then associate it
)
HOLD_LIMIT_S = 300  # bounds the wait for the hold: a hang fails the test instead of the suite


def verdicts(profile: Profile) -> dict[str, Status]:
    return {cid: f.status for cid, f in verify(profile).findings.items()}


def census(p: Profile) -> Counter[str]:
    """How many of each kind of thing the lab holds: what a create made twice would change."""
    s = build.lab_hand(p)  # the test's own eyes: every read, not only the checks' declared ones
    ec2, iam = s.client("ec2"), s.client("iam")
    found = {
        "vpc": ec2.describe_vpcs()["Vpcs"],
        "subnet": ec2.describe_subnets()["Subnets"],
        "route table": ec2.describe_route_tables()["RouteTables"],
        "internet gateway": ec2.describe_internet_gateways()["InternetGateways"],
        "security group": ec2.describe_security_groups()["SecurityGroups"],
        "security group rule": ec2.describe_security_group_rules()["SecurityGroupRules"],
        "instance": [
            i
            for r in ec2.describe_instances()["Reservations"]
            for i in r["Instances"]
            if i["State"]["Name"] != "terminated"
        ],
        "elastic ip": ec2.describe_addresses()["Addresses"],
        "network interface": ec2.describe_network_interfaces()["NetworkInterfaces"],
        "function": s.client("lambda").list_functions()["Functions"],
        "role": iam.list_roles()["Roles"],
        "policy": iam.list_policies(Scope="Local")["Policies"],
        "secret": s.client("secretsmanager").list_secrets()["SecretList"],
        "state machine": s.client("stepfunctions").list_state_machines()["stateMachines"],
        "rule target": s.client("events").list_targets_by_rule(Rule=p.trigger.rule)["Targets"],
    }
    counts = Counter({kind: len(items) for kind, items in found.items()})
    counts["idle elastic ip"] = sum(not a.get("AssociationId") for a in found["elastic ip"])
    return counts


@pytest.fixture
def healthy(built_lab: Run, lab_profile: Profile, lab_url: str) -> Iterator[dict[str, Status]]:
    """The healthy lab's verdicts; after the test the lab is as it was (rebuilt if not)."""
    before, counts = verdicts(lab_profile), census(lab_profile)
    yield before
    if verdicts(lab_profile) != before or census(lab_profile) != counts:
        build.build(lab_profile, lab_url)


def killed_at(hold_at: str, command: list[str], env: dict[str, str], log: Path) -> None:
    """Run ``command`` until it is about to make the call ``hold_at``, then SIGKILL it."""
    marker = log.with_suffix(".held")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**env, HOLD_ENV: hold_at, MARKER_ENV: str(marker)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + HOLD_LIMIT_S
        while not marker.exists():
            tail = log.read_text(errors="replace")[-3000:]
            assert proc.poll() is None, f"ended before {hold_at}:\n{tail}"
            assert time.monotonic() < deadline, f"never reached {hold_at}:\n{tail}"
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def perform_command(reports: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        f"--profile={LAB_PROFILE}",
        "--mode",
        "perform",
        f"--reports-dir={reports}",
        "-p",
        "tests.integration.hold_at",
    ]


def failing(found: dict[str, Status]) -> set[str]:
    return {cid for cid, status in found.items() if status not in (Status.PASS, Status.SKIP)}


@pytest.mark.parametrize(
    ("hold_at", "left", "rerun_writes"),
    [
        pytest.param(
            "lambda:UpdateFunctionConfiguration",
            {name: FAULTS[name].breaks for name in BROKEN[2:]},
            {
                "lambda:UpdateFunctionConfiguration": 1,
                "events:PutRule": 1,
                "ec2:AllocateAddress": 1,
                "ec2:AssociateAddress": 1,
            },
            id="between-sections",
        ),
        pytest.param(
            "ec2:AssociateAddress",
            {"address allocated, not associated": {"region_has_no_idle_elastic_ip"}}
            | {BROKEN[-1]: FAULTS[BROKEN[-1]].breaks},
            {"ec2:AssociateAddress": 1},  # the idle address is reused, not allocated again
            id="inside-an-action",
        ),
    ],
)
def test_interrupted_perform_converges_on_rerun(
    hold_at: str,
    left: dict[str, frozenset[str]],
    rerun_writes: dict[str, int],
    healthy: dict[str, Status],
    lab_env: dict[str, str],
    lab_profile: Profile,
    tmp_path: Path,
) -> None:
    counts = census(lab_profile)  # the healthy lab's
    break_lab(lab_profile, BROKEN)

    killed_at(hold_at, perform_command(tmp_path / "killed"), lab_env, tmp_path / "killed.log")
    assert not (tmp_path / "killed" / "summary.json").exists()  # killed, not finished
    assert failing(verdicts(lab_profile)) == set().union(*left.values())

    # the killed perform's lease outlives it: the person says it is gone
    rerun = subprocess.run(
        [*perform_command(tmp_path / "rerun"), "--break-lease"],
        cwd=ROOT,
        env=lab_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stdout[-3000:]  # every check passes by the end
    assert "WARNING: broke the perform lease" in rerun.stdout
    summary = json.loads((tmp_path / "rerun" / "summary.json").read_text())
    assert summary["mutating_calls"] == rerun_writes
    assert verdicts(lab_profile) == healthy
    assert census(lab_profile) == counts

    again = Run(lab_profile, mode="perform")
    assert build.perform(again) == []
    assert again.mutating_calls() == {}


# The lab's build from scratch (a perform in passes), in a process of its own.
BUILD = (
    "import sys, tests.integration.hold_at\n"
    "from runbook.lab.build import build\n"
    "from runbook.profile import load_profile\n"
    f"build(load_profile({str(LAB_PROFILE)!r}), sys.argv[1])\n"
)


@pytest.mark.parametrize(
    "hold_at",
    [
        "ec2:AttachInternetGateway",  # perform made the gateway, not yet attached
        "ec2:AssociateRouteTable",  # perform made a route table, not yet associated
        # the lab's Cloud9 made its group, not yet its instance; the build's host checks had
        # started the database, which no one stops after a SIGKILL but the lab's world
        "ec2:RunInstances#2",
    ],
)
def test_interrupted_build_converges_without_duplicates(
    hold_at: str,
    healthy: dict[str, Status],
    lab_env: dict[str, str],
    lab_profile: Profile,
    lab_url: str,
    tmp_path: Path,
) -> None:
    counts = census(lab_profile)
    killed_at(hold_at, [sys.executable, "-c", BUILD, lab_url], lab_env, tmp_path / "build.log")
    build.build(lab_profile, lab_url, reset=False)
    assert verdicts(lab_profile) == healthy
    assert census(lab_profile) == counts
