"""Creating a VPC, adding another subnet, creating security groups."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from checks import lookup as L
from runbook.findings import Outcome, absent, judged
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
    severity="high",
    risk="every other part lives in this VPC; another CIDR or an IPv6 block breaks the subnets "
    "and the database's addressing",
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
    severity="high",
    risk="the function, the database and the access host live in these subnets",
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
    severity="medium",
    risk="one zone for both subnets loses what the second subnet is for: running when a zone fails",
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
    severity="high",
    risk="without it nothing in the VPC reaches the internet: every run fails",
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
    "the VPC's main route table), and no narrower public destination elsewhere",
    severity="high",
    risk="the Lambda's traffic to Wikidot and Gmail goes nowhere: runs time out",
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
    actual: dict[str, Any] = {"default_routes": {}, "diverting_routes": {}}
    for s in wanted:
        found = L.subnet(inv, p, s.name)
        table = L.route_table_of(inv, found) if found else None
        route = L.default_route(table)
        actual["default_routes"][s.name] = route.get("GatewayId") if route else None
        diverted = L.diverting_routes(table, igw_id)
        if diverted:
            actual["diverting_routes"][s.name] = diverted
    expected = {
        "default_routes": {s.name: igw_id or "an attached internet gateway" for s in wanted},
        "diverting_routes": {},
    }
    ok = igw_id is not None and actual == expected
    return judged(
        ok,
        "default routes of the public subnets"
        + (
            f"; part of the internet routed elsewhere: {actual['diverting_routes']}"
            if actual["diverting_routes"]
            else ""
        ),
        expected=expected,
        actual=actual,
    )
