"""Perform for the VPC, its subnets, routes, security groups and the Lambda's egress."""

from __future__ import annotations

from typing import Any

from checks import lookup as L
from runbook.actions.base import Action, Ctx, Manual, fixes, manual
from runbook.aws.inventory import Inventory
from runbook.profile import Profile


@fixes("vpc_exists_with_profile_cidr")
def create_vpc(inv: Inventory, p: Profile) -> list[Action | Manual]:
    if L.vpc(inv, p) is not None:
        return [
            Manual(
                f"the VPC {p.vpc.name} exists with another CIDR or an IPv6 block: "
                "recreate it as the guide says (perform never deletes)"
            )
        ]

    def apply(ctx: Ctx) -> None:
        vpc = ctx.client("ec2").create_vpc(
            CidrBlock=p.vpc.cidr, TagSpecifications=ctx.ec2_tags("vpc", p.vpc.name)
        )["Vpc"]
        ctx.client("ec2").modify_vpc_attribute(
            VpcId=vpc["VpcId"], EnableDnsHostnames={"Value": True}
        )

    return [Action(f"create VPC {p.vpc.name} {p.vpc.cidr}", apply)]


@fixes("subnets_exist_with_profile_cidrs")
def create_subnets(inv: Inventory, p: Profile) -> list[Action | Manual]:
    out: list[Action | Manual] = []
    for subnet in p.vpc.subnets:
        found = L.subnet(inv, p, subnet.name)
        if found is None:
            out.append(
                Action(
                    f"create subnet {subnet.name} {subnet.cidr} in its own zone",
                    _subnet_creator(subnet.name, subnet.cidr),
                )
            )
        elif found["CidrBlock"] != subnet.cidr:
            out.append(
                Manual(
                    f"subnet {subnet.name} has {found['CidrBlock']}, not {subnet.cidr}: recreate it"
                )
            )
    return out


def _subnet_creator(name: str, cidr: str) -> Any:
    def apply(ctx: Ctx) -> None:
        ec2 = ctx.client("ec2")
        zones = [
            z["ZoneName"]
            for z in ec2.describe_availability_zones(
                Filters=[{"Name": "state", "Values": ["available"]}]
            )["AvailabilityZones"]
        ]
        vpc_id = L.vpc_id(ctx.inv, ctx.p)
        taken = {s["AvailabilityZone"] for s in ctx.inv.subnets() if s["VpcId"] == vpc_id}
        free = [z for z in sorted(zones) if z not in taken] or sorted(zones)
        ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=cidr,
            AvailabilityZone=free[0],
            TagSpecifications=ctx.ec2_tags("subnet", name),
        )

    return apply


fixes("subnets_in_different_zones")(
    manual("a subnet's zone cannot change: recreate 'Public subnet 2' in another availability zone")
)


@fixes("internet_gateway_attached_to_vpc")
def attach_igw(inv: Inventory, p: Profile) -> list[Action | Manual]:
    def apply(ctx: Ctx) -> None:
        ec2 = ctx.client("ec2")
        # One created by a perform interrupted before the attach is attached, not doubled.
        detached = [
            g
            for g in ctx.inv.internet_gateways()
            if L.tag(g) == p.vpc.internet_gateway
            and not any(
                a.get("State") in ("attaching", "available", "attached")
                for a in g.get("Attachments", [])
            )
        ]
        igw = (
            detached[0]
            if detached
            else ec2.create_internet_gateway(
                TagSpecifications=ctx.ec2_tags("internet-gateway", p.vpc.internet_gateway)
            )["InternetGateway"]
        )
        ec2.attach_internet_gateway(
            InternetGatewayId=igw["InternetGatewayId"], VpcId=L.vpc_id(ctx.inv, p)
        )

    return [
        Action(
            f"create internet gateway {p.vpc.internet_gateway} (or take the detached one of "
            "that name) and attach it",
            apply,
        )
    ]


@fixes("public_subnets_route_to_internet_gateway")
def route_public(inv: Inventory, p: Profile) -> list[Action | Manual]:
    wanted = (
        p.vpc.lambda_subnets
        if p.variants.egress == "eip"
        else tuple(s for s in p.vpc.subnets if s.role == "public")
    )
    return [
        Action(
            f"route 0.0.0.0/0 of {s.name} to the internet gateway",
            route_default_to(s.name, "GatewayId"),
        )
        for s in wanted
    ]


def route_default_to(subnet_name: str, target_key: str, target_id: str | None = None) -> Any:
    """Point the subnet's default route at a target, giving it its own table when it shares one
    with a subnet that must route elsewhere."""

    def apply(ctx: Ctx) -> None:
        ec2 = ctx.client("ec2")
        subnet = L.subnet(ctx.inv, ctx.p, subnet_name)
        target = target_id or L.attached_igw(ctx.inv, ctx.p)["InternetGatewayId"]
        table = L.route_table_of(ctx.inv, subnet)
        explicit = table is not None and any(
            a.get("SubnetId") == subnet["SubnetId"] for a in table.get("Associations", [])
        )
        if not explicit:
            name = f"{subnet_name} routes"
            # One created by a perform interrupted before the association is used, not doubled.
            unused = [
                t
                for t in ctx.inv.route_tables()
                if t["VpcId"] == subnet["VpcId"] and L.tag(t) == name and not t.get("Associations")
            ]
            table = (
                unused[0]
                if unused
                else ec2.create_route_table(
                    VpcId=subnet["VpcId"], TagSpecifications=ctx.ec2_tags("route-table", name)
                )["RouteTable"]
            )
            ec2.associate_route_table(
                RouteTableId=table["RouteTableId"], SubnetId=subnet["SubnetId"]
            )
        # Any 0.0.0.0/0 route, blackholed ones included, must be replaced, not created.
        exists = any(r.get("DestinationCidrBlock") == "0.0.0.0/0" for r in table.get("Routes", []))
        call = ec2.replace_route if exists else ec2.create_route
        call(
            RouteTableId=table["RouteTableId"],
            DestinationCidrBlock="0.0.0.0/0",
            **{target_key: target},
        )

    return apply


def _ensure_group(ctx: Ctx, role: str) -> dict[str, Any]:
    group = L.security_group(ctx.inv, ctx.p, role)
    if group is not None:
        return group
    name = getattr(ctx.p.security_groups, role)
    ctx.client("ec2").create_security_group(
        GroupName=name,
        Description=f"notifier: {role}",
        VpcId=L.vpc_id(ctx.inv, ctx.p),
        TagSpecifications=ctx.ec2_tags("security-group", name),
    )
    ctx.inv.invalidate()
    return L.security_group(ctx.inv, ctx.p, role)


def _permission(port: int | None, *, cidr: str | None = None, group: str | None = None) -> dict:
    rule: dict[str, Any] = (
        {"IpProtocol": "-1"}
        if port is None
        else {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
    )
    if cidr:
        rule["IpRanges"] = [{"CidrIp": cidr}]
    if group:
        rule["UserIdGroupPairs"] = [{"GroupId": group}]
    return rule


@fixes("database_sg_admits_mysql_from_itself")
def db_ingress(inv: Inventory, p: Profile) -> list[Action | Manual]:
    def apply(ctx: Ctx) -> None:
        group = _ensure_group(ctx, "database")
        if not L.admits(L.ingress_rules(group), 3306, group["GroupId"]):
            ctx.client("ec2").authorize_security_group_ingress(
                GroupId=group["GroupId"], IpPermissions=[_permission(3306, group=group["GroupId"])]
            )

    return [
        Action(
            f"create {p.security_groups.database} if missing; allow inbound TCP 3306 from itself",
            apply,
        )
    ]


@fixes("database_sg_egress_all_and_mysql_to_itself")
def db_egress(inv: Inventory, p: Profile) -> list[Action | Manual]:
    def apply(ctx: Ctx) -> None:
        group = _ensure_group(ctx, "database")
        rules = L.egress_rules(group)
        wanted = []
        if not any(r.get("IpProtocol") == "-1" and "0.0.0.0/0" in L.rule_sources(r) for r in rules):
            wanted.append(_permission(None, cidr="0.0.0.0/0"))
        if not any(
            L.covers_port(r, 3306) and group["GroupId"] in L.rule_sources(r)
            for r in rules
            if r.get("IpProtocol") != "-1"
        ):
            wanted.append(_permission(3306, group=group["GroupId"]))
        if wanted:
            ctx.client("ec2").authorize_security_group_egress(
                GroupId=group["GroupId"], IpPermissions=wanted
            )

    return [Action("keep the default outbound rule and allow outbound TCP 3306 to itself", apply)]


@fixes("internet_sg_admits_http_https")
def internet_ingress(inv: Inventory, p: Profile) -> list[Action | Manual]:
    def apply(ctx: Ctx) -> None:
        group = _ensure_group(ctx, "internet")
        missing = [
            _permission(port, cidr="0.0.0.0/0")
            for port in (80, 443)
            if not L.admits(L.ingress_rules(group), port, "0.0.0.0/0")
        ]
        if missing:
            ctx.client("ec2").authorize_security_group_ingress(
                GroupId=group["GroupId"], IpPermissions=missing
            )

    return [
        Action(
            f"create {p.security_groups.internet} if missing; allow inbound HTTP and "
            "HTTPS from anywhere",
            apply,
        )
    ]


WEB_EGRESS = {("tcp", 80, 80, "0.0.0.0/0"), ("tcp", 443, 443, "0.0.0.0/0")}


def _web_egress(rule: dict[str, Any]) -> bool:
    return (
        rule.get("IpProtocol"),
        rule.get("FromPort"),
        rule.get("ToPort"),
        rule.get("CidrIpv4"),
    ) in WEB_EGRESS


@fixes("internet_sg_sends_only_http_https")
def internet_egress(inv: Inventory, p: Profile) -> list[Action | Manual]:
    def apply(ctx: Ctx) -> None:
        # Rules as AWS stores them, one per peer: revoking by rule id keeps the wanted peer
        # of a permission that describe_security_groups shows grouped with others.
        group_id = _ensure_group(ctx, "internet")["GroupId"]
        ec2 = ctx.client("ec2")
        rules = [
            r
            for r in ec2.describe_security_group_rules(
                Filters=[{"Name": "group-id", "Values": [group_id]}]
            )["SecurityGroupRules"]
            if r.get("IsEgress")
        ]
        unwanted = [r["SecurityGroupRuleId"] for r in rules if not _web_egress(r)]
        if unwanted:
            ec2.revoke_security_group_egress(GroupId=group_id, SecurityGroupRuleIds=unwanted)
        present = {r["FromPort"] for r in rules if _web_egress(r)}
        missing = [_permission(port, cidr="0.0.0.0/0") for port in (80, 443) if port not in present]
        if missing:
            ec2.authorize_security_group_egress(GroupId=group_id, IpPermissions=missing)

    return [
        Action(
            "remove every other outbound peer of the internet group (the default all-traffic "
            "rule among them); allow outbound HTTP and HTTPS to anywhere",
            apply,
        )
    ]


@fixes("lambda_enis_have_one_elastic_ip_per_subnet")
def lambda_eips(inv: Inventory, p: Profile) -> list[Action | Manual]:
    enis = L.lambda_enis(inv, p.function.function)
    if not enis:
        return [
            Manual(
                "the Lambda has no network interfaces yet: add it to the VPC first "
                "('Add the Lambda to the VPC'), then run perform again"
            )
        ]
    associated = {a.get("NetworkInterfaceId") for a in inv.addresses()}
    todo = [e["NetworkInterfaceId"] for e in enis if e["NetworkInterfaceId"] not in associated]

    def apply_one(eni_id: str) -> Any:
        def apply(ctx: Ctx) -> None:
            ec2 = ctx.client("ec2")
            idle = [a for a in ctx.inv.addresses() if not a.get("AssociationId")]
            if idle:
                allocation = idle[0]["AllocationId"]
            else:
                allocation = ec2.allocate_address(
                    Domain="vpc",
                    TagSpecifications=ctx.ec2_tags("elastic-ip", f"{p.function.function} ENI"),
                )["AllocationId"]
            ec2.associate_address(AllocationId=allocation, NetworkInterfaceId=eni_id)

        return apply

    return [
        Action(
            f"associate an Elastic IP (reusing an unassociated one first) with {e}", apply_one(e)
        )
        for e in todo
    ]


@fixes("region_has_no_idle_elastic_ip")
def reuse_idle_eips(inv: Inventory, p: Profile) -> list[Action | Manual]:
    """The guide's 'reuse old unused Elastic IPs': an idle address goes to a Lambda ENI that
    lacks one (e.g. allocated by a perform killed before the association); the rest are the
    user's to release."""
    idle = [a for a in inv.addresses() if not a.get("AssociationId")]
    needed = lambda_eips(inv, p) if p.variants.egress == "eip" else []
    steps: list[Action | Manual] = [s for s in needed if isinstance(s, Action)][: len(idle)]
    if len(idle) > len(steps):
        steps.append(
            Manual(
                f"release the {len(idle) - len(steps)} unassociated Elastic IP(s) nothing "
                "needs (EC2 > Elastic IPs; perform never releases)"
            )
        )
    return steps


@fixes("lambda_subnets_route_to_available_nat_gateway")
def nat_gateway(inv: Inventory, p: Profile) -> list[Action | Manual]:
    public = [s for s in p.vpc.subnets if s.role == "public"]

    def apply(ctx: Ctx) -> None:
        ec2 = ctx.client("ec2")
        subnet = L.subnet(ctx.inv, p, public[0].name)
        live = [
            n
            for n in ctx.inv.nat_gateways()
            if n.get("SubnetId") == subnet["SubnetId"]
            and n.get("State") in ("pending", "available")
        ]
        if live:
            nat_id = live[0]["NatGatewayId"]
        else:
            # An address allocated by a perform interrupted before the gateway is used first.
            idle = [
                a
                for a in ctx.inv.addresses()
                if L.tag(a) == p.egress.nat_gateway_name and not a.get("AssociationId")
            ]
            allocation = (
                idle[0]["AllocationId"]
                if idle
                else ec2.allocate_address(
                    Domain="vpc",
                    TagSpecifications=ctx.ec2_tags("elastic-ip", p.egress.nat_gateway_name),
                )["AllocationId"]
            )
            nat_id = ec2.create_nat_gateway(
                SubnetId=subnet["SubnetId"],
                AllocationId=allocation,
                TagSpecifications=ctx.ec2_tags("natgateway", p.egress.nat_gateway_name),
            )["NatGateway"]["NatGatewayId"]
            ec2.get_waiter("nat_gateway_available").wait(NatGatewayIds=[nat_id])
        ctx.inv.invalidate()
        for s in p.vpc.lambda_subnets:
            route_default_to(s.name, "NatGatewayId", nat_id)(ctx)
            ctx.inv.invalidate()

    return [
        Action(
            f"create NAT gateway {p.egress.nat_gateway_name} with an Elastic IP in "
            f"{public[0].name}; route the Lambda subnets through it",
            apply,
        )
    ]


fixes("lambda_subnets_route_to_nat_instance")(
    manual(
        "launch a NAT instance in the public subnet, disable its source/destination check "
        "and route the Lambda subnets' 0.0.0.0/0 to it (AWS: 'NAT instances')"
    )
)
fixes("function_logs_show_no_timeouts")(
    manual(
        "outbound connections time out: check the egress section (Elastic IPs / NAT) and "
        "the internet group's outbound rules, then invoke the function again"
    )
)
