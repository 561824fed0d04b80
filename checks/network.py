"""Creating a VPC, adding another subnet, creating security groups."""

from __future__ import annotations

from typing import TYPE_CHECKING

from checks import lookup as L
from runbook.findings import Outcome, absent, failed, judged
from runbook.profile import Profile
from runbook.registry import check

if TYPE_CHECKING:
    from runbook.aws.inventory import Inventory


def _no_vpc(p: Profile) -> Outcome:
    return absent("VPC", p.vpc.name)


@check(
    id="vpc_exists_with_profile_cidr",
    section="vpc",
    says="the VPC exists with the profile's IPv4 CIDR and no IPv6 CIDR",
    guide="create a VPC named as the profile says, IPv4 CIDR 10.0.0.0/16, no IPv6 CIDR block",
)
def vpc_exists(inv: Inventory, p: Profile) -> Outcome:
    named = [v for v in inv.vpcs() if L.tag(v) == p.vpc.name]
    if not named:
        return _no_vpc(p)
    v = named[0]
    ipv6 = [
        a["Ipv6CidrBlock"]
        for a in v.get("Ipv6CidrBlockAssociationSet", [])
        if a.get("Ipv6CidrBlockState", {}).get("State") in (None, "associated", "associating")
    ]
    actual = {"cidr": v["CidrBlock"], "ipv6": ipv6, "same_name": len(named)}
    expected = {"cidr": p.vpc.cidr, "ipv6": [], "same_name": 1}
    return judged(
        actual == expected,
        f"VPC {v['VpcId']} {v['CidrBlock']}",
        expected=expected,
        actual=actual,
        evidence={"VpcId": v["VpcId"]},
    )


@check(
    id="subnets_exist_with_profile_cidrs",
    section="vpc",
    says="every subnet exists in the VPC with the profile's CIDR block",
    guide="the public subnet 10.0.0.0/24 and 'Public subnet 2' 10.0.1.0/24 inside the VPC",
)
def subnets_exist(inv: Inventory, p: Profile) -> Outcome:
    if L.vpc(inv, p) is None:
        return _no_vpc(p)
    expected = {s.name: s.cidr for s in p.vpc.subnets}
    actual = {}
    for s in p.vpc.subnets:
        found = L.subnet(inv, p, s.name)
        actual[s.name] = found["CidrBlock"] if found else None
    return judged(
        actual == expected, "subnets and their CIDR blocks", expected=expected, actual=actual
    )


@check(
    id="subnets_in_different_zones",
    section="vpc",
    says="the Lambda subnets are in different availability zones",
    guide="set the Availability Zone to anything other than that of the first subnet",
)
def subnets_zones(inv: Inventory, p: Profile) -> Outcome:
    subnets = L.lambda_subnets(inv, p)
    zones = {L.tag(s): s["AvailabilityZone"] for s in subnets}
    ok = len(subnets) == len(p.vpc.lambda_subnets) and len(set(zones.values())) == len(zones)
    return judged(
        ok,
        f"zones {sorted(set(zones.values()))}",
        expected="one zone per Lambda subnet, all different",
        actual=zones,
    )


@check(
    id="internet_gateway_attached_to_vpc",
    section="vpc",
    says="an internet gateway is attached to the VPC",
    guide="add an internet gateway to the VPC",
)
def igw_attached(inv: Inventory, p: Profile) -> Outcome:
    if L.vpc(inv, p) is None:
        return _no_vpc(p)
    igw = L.attached_igw(inv, p)
    return judged(
        igw is not None,
        "internet gateway attachment",
        expected="an attached internet gateway",
        actual=igw["InternetGatewayId"] if igw else None,
    )


@check(
    id="public_subnets_route_to_internet_gateway",
    section="vpc",
    says="every subnet that must be public routes 0.0.0.0/0 to the internet gateway",
    guide="route 0.0.0.0/0 of the subnets to the internet gateway (through their explicit or "
    "the VPC's main route table)",
)
def public_routes(inv: Inventory, p: Profile) -> Outcome:
    if L.vpc(inv, p) is None:
        return _no_vpc(p)
    igw = L.attached_igw(inv, p)
    igw_id = igw["InternetGatewayId"] if igw else None
    wanted = (
        p.vpc.lambda_subnets
        if p.variants.egress == "eip"
        else tuple(s for s in p.vpc.subnets if s.role == "public")
    )
    actual = {}
    for s in wanted:
        found = L.subnet(inv, p, s.name)
        table = L.route_table_of(inv, found) if found else None
        route = L.default_route(table)
        actual[s.name] = route.get("GatewayId") if route else None
    expected = {s.name: igw_id or "an attached internet gateway" for s in wanted}
    ok = igw_id is not None and actual == expected
    return judged(ok, "default routes of the public subnets", expected=expected, actual=actual)


def _group_or_fail(inv: Inventory, p: Profile, role: str) -> tuple[dict | None, Outcome | None]:
    group = L.security_group(inv, p, role)
    if group is None:
        name = getattr(p.security_groups, role)
        return None, failed(
            f"security group {name!r} does not exist in the VPC", expected=name, actual=None
        )
    return group, None


@check(
    id="database_sg_admits_mysql_from_itself",
    section="security_groups",
    says="the database security group admits TCP 3306 from itself",
    guide="inbound rule MYSQL/Aurora with the source set to this group's own id",
)
def db_sg_ingress(inv: Inventory, p: Profile) -> Outcome:
    group, missing = _group_or_fail(inv, p, "database")
    if missing:
        return missing
    ok = L.admits(L.ingress_rules(group), 3306, group["GroupId"])
    return judged(
        ok,
        "inbound TCP 3306 from itself",
        expected=f"tcp 3306 {group['GroupId']}",
        actual=L.compact_rules(L.ingress_rules(group)),
    )


@check(
    id="database_sg_egress_all_and_mysql_to_itself",
    section="security_groups",
    says="the database security group keeps all outbound traffic and sends TCP 3306 to itself",
    guide="leave the default outbound rule and add MYSQL/Aurora to this group's own id",
)
def db_sg_egress(inv: Inventory, p: Profile) -> Outcome:
    group, missing = _group_or_fail(inv, p, "database")
    if missing:
        return missing
    rules = L.egress_rules(group)
    default = any(r.get("IpProtocol") == "-1" and "0.0.0.0/0" in L.rule_sources(r) for r in rules)
    self_rule = any(
        L.covers_port(r, 3306) and group["GroupId"] in L.rule_sources(r)
        for r in rules
        if r.get("IpProtocol") != "-1"
    )
    return judged(
        default and self_rule,
        "outbound rules",
        expected=["all 0.0.0.0/0", f"tcp 3306-3306 {group['GroupId']}"],
        actual=L.compact_rules(rules),
    )


HTTP_PORTS = (80, 443)


def _exact_web_rules(rules: list[dict]) -> bool:
    """Exactly TCP 80 and 443 from/to 0.0.0.0/0, and nothing else."""
    seen = set()
    for r in rules:
        for peer in L.rule_sources(r):
            seen.add((r.get("IpProtocol"), r.get("FromPort"), r.get("ToPort"), peer))
    return seen == {("tcp", port, port, "0.0.0.0/0") for port in HTTP_PORTS}


@check(
    id="internet_sg_admits_http_https",
    section="security_groups",
    says="the internet security group admits TCP 80 and 443 from anywhere",
    guide="inbound rules HTTP and HTTPS with the source 0.0.0.0/0",
)
def internet_sg_ingress(inv: Inventory, p: Profile) -> Outcome:
    group, missing = _group_or_fail(inv, p, "internet")
    if missing:
        return missing
    rules = L.ingress_rules(group)
    ok = all(L.admits(rules, port, "0.0.0.0/0") for port in HTTP_PORTS)
    return judged(
        ok,
        "inbound HTTP and HTTPS",
        expected=["tcp 80-80 0.0.0.0/0", "tcp 443-443 0.0.0.0/0"],
        actual=L.compact_rules(rules),
        advisories=(
            "hardening beyond the guide: Lambda egress needs no inbound rules; the inbound "
            "80/443 rules can be removed",
        )
        if rules
        else (),
    )


@check(
    id="internet_sg_sends_only_http_https",
    section="security_groups",
    says="the internet security group sends only TCP 80 and 443 to anywhere",
    guide="remove the default outbound rule; add HTTP and HTTPS to 0.0.0.0/0",
)
def internet_sg_egress(inv: Inventory, p: Profile) -> Outcome:
    group, missing = _group_or_fail(inv, p, "internet")
    if missing:
        return missing
    rules = L.egress_rules(group)
    return judged(
        _exact_web_rules(rules),
        "outbound rules",
        expected=["tcp 80-80 0.0.0.0/0", "tcp 443-443 0.0.0.0/0"],
        actual=L.compact_rules(rules),
    )
