"""Finding the profile's resources in the inventory, by the names a person gave them."""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Any

from runbook.findings import Outcome, failed

# Which instance is which: shared with the host access, which must not import the checks.
from runbook.instances import TUNNELLED as TUNNELLED
from runbook.instances import access_host as access_host
from runbook.instances import cloud9_instance as cloud9_instance
from runbook.instances import db_instance as db_instance
from runbook.instances import instance_named as instance_named
from runbook.instances import tag as tag
from runbook.profile import Profile

if TYPE_CHECKING:
    from runbook.aws.inventory import Inventory

Resource = dict[str, Any]


def vpc(inv: Inventory, p: Profile) -> Resource | None:
    named = [v for v in inv.vpcs() if tag(v) == p.vpc.name]
    return named[0] if named else None


def vpc_id(inv: Inventory, p: Profile) -> str | None:
    found = vpc(inv, p)
    return found["VpcId"] if found else None


def subnet(inv: Inventory, p: Profile, name: str) -> Resource | None:
    vid = vpc_id(inv, p)
    named = [s for s in inv.subnets() if s["VpcId"] == vid and tag(s) == name]
    return named[0] if named else None


def lambda_subnets(inv: Inventory, p: Profile) -> list[Resource]:
    return [s for s in (subnet(inv, p, x.name) for x in p.vpc.lambda_subnets) if s]


def security_group(inv: Inventory, p: Profile, role: str) -> Resource | None:
    """The group called exactly as the profile says, in the VPC (similar names don't count)."""
    name = getattr(p.security_groups, role)
    vid = vpc_id(inv, p)
    found = [g for g in inv.security_groups() if g["GroupName"] == name and g["VpcId"] == vid]
    return found[0] if found else None


def route_table_of(inv: Inventory, subnet_res: Resource) -> Resource | None:
    """The explicitly associated route table, else the VPC's main one (as AWS routes)."""
    tables = [t for t in inv.route_tables() if t["VpcId"] == subnet_res["VpcId"]]
    for t in tables:
        if any(a.get("SubnetId") == subnet_res["SubnetId"] for a in t.get("Associations", [])):
            return t
    for t in tables:
        if any(a.get("Main") for a in t.get("Associations", [])):
            return t
    return None


def default_route(table: Resource | None) -> Resource | None:
    if table is None:
        return None
    for r in table.get("Routes", []):
        if r.get("DestinationCidrBlock") == "0.0.0.0/0" and r.get("State", "active") == "active":
            return r
    return None


# Destinations that are not the internet: a route there diverts nothing the notifier sends out.
NOT_INTERNET = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16")
)
ROUTE_TARGETS = (
    "GatewayId",
    "NatGatewayId",
    "InstanceId",
    "NetworkInterfaceId",
    "VpcPeeringConnectionId",
    "TransitGatewayId",
    "CarrierGatewayId",
    "LocalGatewayId",
    "CoreNetworkArn",
)


def route_target(route: Resource) -> str | None:
    return next((route[k] for k in ROUTE_TARGETS if route.get(k)), None)


def diverting_routes(table: Resource | None, target: str | None) -> list[str]:
    """Routes more specific than 0.0.0.0/0 that send part of the internet elsewhere than
    ``target`` (AWS routes by the longest prefix): '8.8.8.0/24 → eni-1 (active)'."""
    out = []
    for r in (table or {}).get("Routes", []):
        dest = r.get("DestinationCidrBlock")
        if not dest or dest == "0.0.0.0/0" or r.get("GatewayId") == "local":
            continue
        net = ipaddress.ip_network(dest, strict=False)
        if any(net.subnet_of(private) for private in NOT_INTERNET):
            continue
        if route_target(r) != target:
            out.append(f"{dest} → {route_target(r)} ({r.get('State', 'active')})")
    return out


def attached_igw(inv: Inventory, p: Profile) -> Resource | None:
    vid = vpc_id(inv, p)
    for igw in inv.internet_gateways():
        if any(
            a.get("VpcId") == vid and a.get("State") in ("available", "attached")
            for a in igw.get("Attachments", [])
        ):
            return igw
    return None


# An endpoint being deleted, or deleted, reaches nothing.
ENDPOINT_GONE = ("delete-in-progress", "delete-complete", "delete-failed")


def instance_connect_endpoints(inv: Inventory, p: Profile) -> list[Resource]:
    """The VPC's EC2 Instance Connect Endpoints that are not being deleted."""
    vpc = vpc_id(inv, p)
    return [
        e
        for e in inv.instance_connect_endpoints()
        if e.get("VpcId") == vpc and vpc is not None and e.get("State") not in ENDPOINT_GONE
    ]


def function_config(inv: Inventory, p: Profile) -> Resource | None:
    fn = inv.function(p.function.function)
    return fn["Configuration"] if fn else None


_UUID = "[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}"


def lambda_enis(inv: Inventory, function_name: str) -> list[Resource]:
    """The interfaces the Lambda service made for the function (requester-managed on AWS)."""
    # "…ENI-<function>" or "…ENI-<function>-<uuid>", never another function's with a suffix.
    pattern = re.compile(rf"AWS Lambda VPC ENI-{re.escape(function_name)}(-{_UUID})?")
    return [
        e
        for e in inv.network_interfaces()
        if pattern.fullmatch(e.get("Description") or "") and e.get("RequesterManaged")
    ]


def access_host_groups(inv: Inventory, p: Profile) -> list[str] | None:
    """The security groups of the access host, or None when there is no access host."""
    host = access_host(inv, p)
    return sorted(g["GroupId"] for g in host.get("SecurityGroups", [])) if host else None


def database_groups(inv: Inventory, p: Profile) -> list[str]:
    """The security groups the database carries (the instance's, or the cluster's)."""
    if p.variants.aurora:
        cluster = inv.db_cluster(p.database.cluster) or {}
        return sorted(g["VpcSecurityGroupId"] for g in cluster.get("VpcSecurityGroups", []))
    inst = db_instance(inv, p) or {}
    return sorted(g["GroupId"] for g in inst.get("SecurityGroups", []))


def function_groups(inv: Inventory, p: Profile) -> list[str]:
    """The security groups the function's interfaces carry (its VPC config)."""
    cfg = function_config(inv, p) or {}
    return sorted((cfg.get("VpcConfig") or {}).get("SecurityGroupIds", []))


def ingress_rules(group: Resource) -> list[Resource]:
    return group.get("IpPermissions", [])


def egress_rules(group: Resource) -> list[Resource]:
    return group.get("IpPermissionsEgress", [])


def window(inv: Inventory, p: Profile) -> tuple[str, str]:
    """The look-back window's start and end (ISO, on the hour) as the inventory read it."""
    got = inv.operations_window(str(p.operations.lookback_hours))
    return got["start"], got["end"]


TIMEOUT_TERMS = ("Task timed out", "ConnectTimeout")


def log_terms(p: Profile) -> tuple[str, ...]:
    """Every term the checks look for in the notifier's log, asked in one filter."""
    found = (*TIMEOUT_TERMS, p.operations.finished_message, p.operations.timeout_message)
    return tuple(dict.fromkeys(found))


def log_lines(inv: Inventory, p: Profile, group: str, term: str) -> list[Resource] | None:
    """The window's log lines containing ``term``; None without the log group."""
    start, end = window(inv, p)
    found = inv.log_lines(group, start, end, *log_terms(p))
    return None if found is None else found[term]


def log_group(p: Profile, config: Resource | None = None) -> str:
    """The notifier's log group: the profile's, else the one the function's ``LoggingConfig``
    names (Lambda's advanced logging controls), else Lambda's default."""
    named = ((config or {}).get("LoggingConfig") or {}).get("LogGroup")
    return p.operations.log_group or named or f"/aws/lambda/{p.function.function}"


def targeted_machines(inv: Inventory, p: Profile) -> list[str]:
    """The names of the state machines the rule targets (none when there is no rule)."""
    if inv.rule(p.trigger.rule) is None:
        return []
    arns = [t["Arn"].split(":") for t in inv.rule_targets(p.trigger.rule)]
    # arn:aws:states:region:account:stateMachine:name[:alias or version]
    return [a[6] for a in arns if len(a) > 6 and a[2] == "states" and a[5] == "stateMachine"]


def state_machine_name(inv: Inventory, p: Profile) -> str:
    """The state machine the deployment runs: the one the rule targets whose definition invokes
    the function (AWS says which; the guide never names it), else the profile's name."""
    from runbook.stepfunctions.graph import DefinitionError, analyse, parse_definition

    targeted = targeted_machines(inv, p)
    if p.step_functions.state_machine in targeted or not targeted:
        return p.step_functions.state_machine
    for name in targeted:
        machine = inv.state_machine(name)
        try:
            flow = analyse(parse_definition(machine["definition"])) if machine else None
        except DefinitionError:
            flow = None
        if flow is not None and p.function.function in flow.invoked_functions:
            return name
    return targeted[0]


_IMAGE_URI = re.compile(
    r"^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[^:@]+)(?::(?P<tag>[^@]+))?(?:@(?P<digest>sha256:[0-9a-f]+))?$"
)


def image_reference(uri: str) -> tuple[str, str | None] | None:
    """The repository and tag (None for a digest) of a private ECR image URI."""
    found = _IMAGE_URI.match(uri)
    return (found["repository"], found["tag"]) if found else None


def image_source(inv: Inventory, p: Profile) -> tuple[str, str]:
    """The ECR repository and tag the function's image comes from (its ``ImageUri`` says;
    the guide never names the repository), else the profile's."""
    fn = inv.function(p.function.function) if p.variants.packaging == "image" else None
    found = image_reference(((fn or {}).get("Code") or {}).get("ImageUri") or "")
    if found is None:
        return p.redeployment.ecr_repository, p.redeployment.image_tag
    given = p.given("redeployment.image_tag")  # the tag redeployment pushes: judged as set
    return found[0], p.redeployment.image_tag if given else found[1] or p.redeployment.image_tag


def name_mismatch(p: Profile, key: str, found: str, what: str) -> Outcome | None:
    """A name the profile sets where AWS's relationships say another: the key to change."""
    section, _, name = key.partition(".")
    said = getattr(getattr(p, "function" if section == "lambda" else section), name)
    if not p.given(key) or said == found:
        return None
    return failed(
        f"found {found} ({what}) where the profile says {said}: set {key} = "
        f'"{found}" or rename the resource',
        expected=said,
        actual=found,
    )
