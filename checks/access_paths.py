"""Today's ways into the VPC (Cloud9 is closed to new customers since July 2024): an EC2
Instance Connect Endpoint, or Session Manager, each reaching an instance inside the VPC.

An endpoint reaches an instance only if it is create-complete, sits in the VPC, and the
instance's groups admit SSH from the endpoint's group (with the client's IP preserved, the
source is the operator's own address instead, which no rule of the deployment can name).
Session Manager reaches an instance only while its agent reports online, which it does only
with an instance profile whose role may open the agent's channels.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from checks import lookup as L
from checks import rules as R
from checks.evaluation import role_may
from runbook.findings import Outcome, failed, judged
from runbook.profile import Profile
from runbook.registry import check
from runbook.sections import access_host_is

if TYPE_CHECKING:
    from runbook.aws.inventory import Inventory

SSH = 22
# What the SSM agent calls to register and to carry a session (AmazonSSMManagedInstanceCore).
SESSION_MANAGER_CALLS = (
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
)


def admits_ssh(group: dict[str, Any], peers: list[str]) -> bool:
    """Whether a group's inbound rules let TCP 22 in from one of ``peers``."""
    return any(
        r.peer in peers
        and r.protocol in ("tcp", "all")
        and (r.from_port is None or r.from_port <= SSH <= (r.to_port or SSH))
        for r in R.flat(L.ingress_rules(group))
    )


def endpoint_groups(inv: Inventory, p: Profile) -> list[str]:
    """The groups of the VPC's endpoints, from which SSH reaches the instances."""
    return sorted({g for e in L.instance_connect_endpoints(inv, p) for g in e["SecurityGroupIds"]})


def _why_not(endpoint: dict[str, Any], subnets: set[str], host_groups: list[dict]) -> list[str]:
    reasons = []
    if endpoint.get("State") != "create-complete":
        reasons.append(f"state {endpoint.get('State')}")
    if endpoint.get("SubnetId") not in subnets:
        reasons.append(f"in {endpoint.get('SubnetId')}, none of the profile's subnets")
    if endpoint.get("PreserveClientIp"):
        reasons.append(
            "it preserves the client's IP, so the instance sees your own address (create it "
            "with --no-preserve-client-ip)"
        )
    elif not any(admits_ssh(g, endpoint.get("SecurityGroupIds", [])) for g in host_groups):
        reasons.append(f"the access host's groups admit no SSH from {endpoint['SecurityGroupIds']}")
    return reasons


@check(
    id="instance_connect_endpoint_reaches_access_host",
    section="database_access",
    says="an EC2 Instance Connect Endpoint in the VPC reaches the access host over SSH",
    guide="create an EC2 Instance Connect Endpoint in one of the VPC's subnets (VPC > "
    "Endpoints), and admit SSH to the access host from the endpoint's security group",
    severity="medium",
    risk="without it nobody can reach the database to administer it (the notifier still runs)",
    applies=access_host_is("instance-connect-endpoint"),
    console="VPC > Endpoints; VPC > Security groups",
)
def endpoint_reaches_host(inv: Inventory, p: Profile) -> Outcome:
    host = L.access_host(inv, p)
    if host is None:
        return failed(
            "no access host for the endpoint to reach", expected="an instance", actual=None
        )
    endpoints = L.instance_connect_endpoints(inv, p)
    subnets = {s["SubnetId"] for s in (L.subnet(inv, p, x.name) for x in p.vpc.subnets) if s}
    groups = [g for g in inv.security_groups() if g["GroupId"] in L.access_host_groups(inv, p)]
    why = {e["InstanceConnectEndpointId"]: _why_not(e, subnets, groups) for e in endpoints}
    good = [e for e, reasons in why.items() if not reasons]
    expected = {
        "state": "create-complete",
        "subnet": "one of the profile's",
        "ssh_to": f"{host['InstanceId']} from the endpoint's group",
    }
    if not endpoints:
        return failed(
            "no EC2 Instance Connect Endpoint in the VPC",
            expected=expected,
            actual=None,
            resource=host["InstanceId"],
        )
    return judged(
        bool(good),
        f"endpoint {good[0]} reaches {host['InstanceId']} on TCP {SSH}"
        if good
        else "no endpoint reaches the access host: "
        + "; ".join(f"{e}: {', '.join(r)}" for e, r in why.items()),
        expected=expected,
        actual={e: r or "reaches it" for e, r in why.items()},
        evidence=[
            {k: e.get(k) for k in ("InstanceConnectEndpointId", "State", "SubnetId")}
            | {"SecurityGroupIds": e.get("SecurityGroupIds", [])}
            for e in endpoints
        ],
        resource=good[0] if good else next(iter(why)),
    )


@check(
    id="access_host_is_online_in_session_manager",
    section="database_access",
    says="the access host's SSM agent is online in Session Manager",
    guide="Systems Manager > Fleet Manager lists the access host as a managed node, online "
    "(the agent registers with the instance profile's role)",
    severity="medium",
    risk="Session Manager cannot open a session: nobody can reach the database to administer it",
    applies=access_host_is("ssm"),
    console="Systems Manager > Fleet Manager",
)
def online_in_session_manager(inv: Inventory, p: Profile) -> Outcome:
    host = L.access_host(inv, p)
    if host is None:
        return failed("no access host", expected="a managed instance", actual=None)
    found = inv.session_manager_instance()
    status = found.get("PingStatus")
    return judged(
        status == "Online",
        f"{host['InstanceId']} is "
        + (f"{status} in Systems Manager" if status else "not a managed instance"),
        expected={"PingStatus": "Online"},
        actual={"PingStatus": status},
        evidence={k: found[k] for k in ("AgentVersion", "LastPingDateTime") if k in found},
        resource=host["InstanceId"],
    )


@check(
    id="access_host_role_allows_session_manager",
    section="database_access",
    says="the access host's instance profile lets its SSM agent open Session Manager channels",
    guide="give the access host an instance profile whose role (trusted by ec2.amazonaws.com) "
    "has AmazonSSMManagedInstanceCore",
    severity="medium",
    risk="the agent cannot register or carry a session: Session Manager cannot reach the host",
    applies=access_host_is("ssm"),
    console="EC2 > Instances > Actions > Security > Modify IAM role; IAM > Roles",
)
def role_allows_session_manager(inv: Inventory, p: Profile) -> Outcome:
    host = L.access_host(inv, p)
    if host is None:
        return failed("no access host", expected="an instance profile", actual=None)
    arn = (host.get("IamInstanceProfile") or {}).get("Arn")
    profile = inv.instance_profile(arn.rsplit("/", 1)[-1]) if arn else None
    roles = (profile or {}).get("Roles", [])
    if not roles:
        return failed(
            f"{host['InstanceId']} has "
            + ("no instance profile" if not arn else f"instance profile {arn} without a role"),
            expected="an instance profile with a role",
            actual=arn,
            resource=host["InstanceId"],
        )
    needs = [(a, "*") for a in SESSION_MANAGER_CALLS]
    outcome = role_may(inv, roles[0]["Arn"], "ec2.amazonaws.com", needs, "the access host")
    return replace(outcome, resource=roles[0]["Arn"])
