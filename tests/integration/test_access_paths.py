"""Today's ways into the VPC (Cloud9 is closed to new customers): an EC2 Instance Connect
Endpoint or Session Manager. The host checks go through the ProxyCommand people wire them
with, to the instance's id; a broken path fails exactly its checks and perform repairs it with
exactly the calls its plan names; an endpoint made another way (plain boto3, the VPC's default
group, the client's IP preserved) is judged as AWS would let it work."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from checks import lookup as L
from runbook.aws.inventory import Inventory
from runbook.aws.session import open_session
from runbook.findings import Status
from runbook.lab import build
from runbook.lab.faults import FAULTS, World
from runbook.profile import Profile, load_profile
from runbook.run import Run

from .conftest import LAB_PROFILE, LAB_SSH, ROOT, in_the_lab, lab_base, proxied, verify
from .test_discover import _discover as discover
from .test_discover import _healthy as healthy

pytestmark = pytest.mark.lab

EICE, SSM = "example-instance-connect-endpoint", "example-session-manager"
ENDPOINT = "instance_connect_endpoint_reaches_access_host"
DB_INGRESS = "database_sg_admits_only_mysql_from_itself_and_access_host"


def _profile(name: str) -> Profile:
    lab = load_profile(LAB_PROFILE)
    return in_the_lab(load_profile(ROOT / "profiles" / f"{name}.toml"), lab)


@pytest.fixture
def rebuilt_afterwards(lab_url: str, built_lab: Run) -> Iterator[str]:
    try:
        yield lab_url
    finally:
        build.build(load_profile(LAB_PROFILE), lab_url)


def _failing(profile: Profile) -> dict[str, str]:
    run = verify(profile, start_database=True)
    return {
        c: f.summary for c, f in run.findings.items() if f.status in (Status.FAIL, Status.ERROR)
    }


@pytest.mark.parametrize("name", [EICE, SSM])
def test_hosts_are_reached_by_instance_id_through_the_proxy_command(
    name: str,
    rebuilt_afterwards: str,
    lab_state: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    profile = _profile(name)
    build.build(profile, rebuilt_afterwards)
    log = tmp_path / "relay.log"
    relay = f"{sys.executable} -m runbook.lab.relay --to {LAB_SSH} --log {log} %h %p"
    monkeypatch.setenv("RUNBOOK_SSH_CONFIG", str(proxied(lab_state, tmp_path, relay, "i-*")))
    run = verify(profile, start_database=True)
    access = {c: f.status for c, f in run.findings.items() if f.section == "database_access"}
    expected = (
        {ENDPOINT}
        if name == EICE
        else {
            "access_host_is_online_in_session_manager",
            "access_host_role_allows_session_manager",
        }
    )
    assert {c for c, s in access.items() if s == Status.PASS} >= expected | {
        "access_host_reaches_database_port",
        "notifier_logs_in_through_access_host_at_profile_version",
    }
    assert {c for c, s in access.items() if s != Status.PASS} == (
        {"access_host_is_online_in_session_manager", "access_host_role_allows_session_manager"}
        if name == EICE
        else {ENDPOINT}
    )  # the other variant's checks, skipped
    instance = L.db_instance(Inventory(open_session(profile.region)), profile)["InstanceId"]
    assert set(log.read_text().split()) == {f"{instance}:22"}  # the database is the access host


@pytest.mark.parametrize("name", sorted(n for n, f in FAULTS.items() if f.profile in (EICE, SSM)))
def test_a_broken_path_fails_its_checks_and_perform_repairs_it_as_planned(
    name: str, rebuilt_afterwards: str
) -> None:
    fault = FAULTS[name]
    profile = _profile(fault.profile)
    build.build(profile, rebuilt_afterwards)
    reader = Inventory(open_session(profile.region))
    fault.apply(World(open_session(profile.region, writable=True), reader, profile))
    assert set(_failing(profile)) == set(fault.breaks)
    performed = Run(profile, mode="perform", start_database=True)
    try:
        build.perform(performed)
    finally:
        performed.close()
    assert _failing(profile) == {}
    planned = {
        ":".join(c.split()[:2])
        for f in performed.findings.values()
        for step in f.steps
        if step.state == "applied"
        for c in step.calls
        if not c.startswith("mysql ")
    }
    writes = set(performed.mutating_calls()) - {"ec2:StartInstances", "ec2:StopInstances"}
    assert writes == planned


def test_an_endpoint_made_with_plain_boto3_is_judged_as_aws_lets_it_work(
    rebuilt_afterwards: str,
) -> None:
    """Made as the console or CLI makes it: no group given (the VPC's default group), then
    with the client's IP preserved (the instance sees the operator's own address)."""
    profile = _profile(EICE)
    build.build(profile, rebuilt_afterwards)
    inv = Inventory(open_session(profile.region))
    hand = World(open_session(profile.region, writable=True), inv, profile)
    for endpoint in L.instance_connect_endpoints(inv, profile):
        hand.client("ec2").delete_instance_connect_endpoint(
            InstanceConnectEndpointId=endpoint["InstanceConnectEndpointId"]
        )
    ec2 = boto3.client("ec2", region_name=profile.region)
    subnet = L.lambda_subnets(inv, profile)[1]["SubnetId"]
    made = ec2.create_instance_connect_endpoint(SubnetId=subnet)["InstanceConnectEndpoint"]
    default_group = made["SecurityGroupIds"][0]
    failing = _failing(profile)
    # the endpoint's group is not admitted, and the old endpoint's group's rule is a stray one
    assert set(failing) == {ENDPOINT, DB_INGRESS}
    assert f"admit no SSH from ['{default_group}']" in failing[ENDPOINT]
    db_group = L.security_group(inv, profile, "database")["GroupId"]
    stale = [
        r["UserIdGroupPairs"][0]["GroupId"]
        for r in L.ingress_rules(L.security_group(inv, profile, "database"))
        if r.get("FromPort") == 22 and r.get("UserIdGroupPairs")
    ]
    ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22}
    ec2.revoke_security_group_ingress(
        GroupId=db_group, IpPermissions=[{**ssh, "UserIdGroupPairs": [{"GroupId": stale[0]}]}]
    )
    ec2.authorize_security_group_ingress(
        GroupId=db_group, IpPermissions=[{**ssh, "UserIdGroupPairs": [{"GroupId": default_group}]}]
    )
    assert _failing(profile) == {}
    hand.client("ec2").delete_instance_connect_endpoint(
        InstanceConnectEndpointId=made["InstanceConnectEndpointId"]
    )
    preserving = ec2.create_instance_connect_endpoint(SubnetId=subnet, PreserveClientIp=True)
    failing = _failing(profile)
    assert set(failing) == {ENDPOINT}
    assert "preserves the client's IP" in failing[ENDPOINT]
    assert preserving["InstanceConnectEndpoint"]["InstanceConnectEndpointId"] in failing[ENDPOINT]


@pytest.mark.parametrize("name", [EICE, SSM])
def test_discover_finds_the_way_in(
    name: str, rebuilt_afterwards: str, lab_env: dict[str, str], tmp_path: Path
) -> None:
    """From the variant's profile told Cloud9: discover sees the endpoint admitted on SSH, or
    the database instance's instance profile, and the profile it writes verifies."""
    build.build(_profile(name), rebuilt_afterwards)
    way = "instance-connect-endpoint" if name == EICE else "ssm"
    base = lab_base(name, tmp_path, {f'access_host = "{way}"': 'access_host = "cloud9"'})
    assert load_profile(base).variants.access_host == "cloud9"
    proc = discover(lab_env, tmp_path, "--start-database", base=str(base))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    found = load_profile(tmp_path / "found.toml")
    assert found.variants.access_host == way
    assert found.access_host.target_instance is None  # the database instance
    assert healthy(tmp_path) == {}
