"""Perform for the VPC, its subnets, routes, security groups and the Lambda's egress."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from checks import lookup as L
from checks import rules as R
from checks.security_groups import GUIDE_RULES, WEB_RULES, exposed_groups, world_open
from runbook.actions.base import FIXERS, Action, Ctx, Fixer, Manual, call, fixes, manual
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

    return [
        Action(
            f"create VPC {p.vpc.name} {p.vpc.cidr}",
            apply,
            (
                call("ec2", "CreateVpc", CidrBlock=p.vpc.cidr, Name=p.vpc.name),
                call("ec2", "ModifyVpcAttribute", VpcId="<new VPC>", EnableDnsHostnames=True),
            ),
        )
    ]


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
                    (
                        call(
                            "ec2",
                            "CreateSubnet",
                            VpcId=L.vpc_id(inv, p) or "<the VPC>",
                            CidrBlock=subnet.cidr,
                            AvailabilityZone="<a zone no other subnet of the VPC uses>",
                            Name=subnet.name,
                        ),
                    ),
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


@fixes("subnets_in_different_zones")
def subnet_zones(inv: Inventory, p: Profile) -> list[Action | Manual]:
    if len(L.lambda_subnets(inv, p)) < len(p.vpc.lambda_subnets):  # made in their own zones
        return [Manual("create the missing subnets first (each is made in a zone of its own)")]
    return [
        Manual(
            "a subnet's zone cannot change: recreate 'Public subnet 2' in another availability zone"
        )
    ]


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

    detached = [
        g
        for g in inv.internet_gateways()
        if L.tag(g) == p.vpc.internet_gateway
        and not any(
            a.get("State") in ("attaching", "available", "attached")
            for a in g.get("Attachments", [])
        )
    ]
    igw = detached[0]["InternetGatewayId"] if detached else "<new internet gateway>"
    calls = () if detached else (call("ec2", "CreateInternetGateway", Name=p.vpc.internet_gateway),)
    return [
        Action(
            f"create internet gateway {p.vpc.internet_gateway} (or take the detached one of "
            "that name) and attach it",
            apply,
            (
                *calls,
                call(
                    "ec2",
                    "AttachInternetGateway",
                    InternetGatewayId=igw,
                    VpcId=L.vpc_id(inv, p) or "<the VPC>",
                ),
            ),
        )
    ]


@fixes("public_subnets_route_to_internet_gateway")
def route_public(inv: Inventory, p: Profile) -> list[Action | Manual]:
    wanted = (
        p.vpc.lambda_subnets
        if p.variants.egress == "eip"
        else tuple(s for s in p.vpc.subnets if s.role == "public")
    )
    igw = L.attached_igw(inv, p)
    target = igw["InternetGatewayId"] if igw else "<the internet gateway>"
    steps: list[Action | Manual] = [
        Action(
            f"route 0.0.0.0/0 of {s.name} to the internet gateway",
            route_default_to(s.name, "GatewayId"),
            route_calls(inv, p, s.name, "GatewayId", target),
        )
        for s in wanted
    ]
    for s in wanted:
        found = L.subnet(inv, p, s.name)
        table = L.route_table_of(inv, found) if found else None
        diverted = L.diverting_routes(table, igw["InternetGatewayId"] if igw else None)
        if diverted:
            steps.append(
                Manual(
                    f"delete the routes of {table['RouteTableId']} ({s.name}) that send part of "
                    f"the internet elsewhere: {', '.join(diverted)} (VPC > Route tables; "
                    "perform never deletes)"
                )
            )
    return steps


def route_calls(
    inv: Inventory, p: Profile, subnet_name: str, target_key: str, target: str
) -> tuple[str, ...]:
    """The calls ``route_default_to`` makes for the subnet as the inventory shows it."""
    subnet = L.subnet(inv, p, subnet_name)
    table = L.route_table_of(inv, subnet) if subnet else None
    explicit = (
        table is not None
        and subnet is not None
        and any(a.get("SubnetId") == subnet["SubnetId"] for a in table.get("Associations", []))
    )
    out = []
    if not explicit:
        subnet_id = subnet["SubnetId"] if subnet else f"<{subnet_name}>"
        out += [
            call("ec2", "CreateRouteTable", Name=f"{subnet_name} routes"),
            call("ec2", "AssociateRouteTable", RouteTableId="<its table>", SubnetId=subnet_id),
        ]
    exists = explicit and any(
        r.get("DestinationCidrBlock") == "0.0.0.0/0" for r in table.get("Routes", [])
    )
    table_id = table["RouteTableId"] if explicit else "<its table>"
    out.append(
        call(
            "ec2",
            "ReplaceRoute" if exists else "CreateRoute",
            RouteTableId=table_id,
            DestinationCidrBlock="0.0.0.0/0",
            **{target_key: target},
        )
    )
    return tuple(out)


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
    ec2 = ctx.client("ec2")
    made = ec2.create_security_group(
        GroupName=name,
        Description=f"notifier: {role}",
        VpcId=L.vpc_id(ctx.inv, ctx.p),
        TagSpecifications=ctx.ec2_tags("security-group", name),
    )
    if role == "internet":  # the guide's "Edit the inbound rules": HTTP and HTTPS from anywhere
        ec2.authorize_security_group_ingress(
            GroupId=made["GroupId"], IpPermissions=[_permission(r) for r in sorted(WEB_RULES)]
        )
    ctx.inv.invalidate()
    return L.security_group(ctx.inv, ctx.p, role)


def _permission(rule: R.Rule) -> dict[str, Any]:
    """The API's shape of one rule, to authorize it."""
    permission: dict[str, Any] = {"IpProtocol": "-1" if rule.protocol == "all" else rule.protocol}
    if rule.from_port is not None:
        permission.update(FromPort=rule.from_port, ToPort=rule.to_port)
    if rule.peer.startswith("sg-"):
        permission["UserIdGroupPairs"] = [{"GroupId": rule.peer}]
    elif ":" in rule.peer:
        permission["Ipv6Ranges"] = [{"CidrIpv6": rule.peer}]
    else:
        permission["IpRanges"] = [{"CidrIp": rule.peer}]
    return permission


def exact_rules(
    ctx: Ctx, group_id: str, *, egress: bool, wanted: set[R.Rule], keep: set[R.Rule]
) -> None:
    """Make a guide's group hold its rules: revoke every rule (one peer each, by rule id) that
    is neither wanted nor kept, authorize the wanted ones missing. The guide's groups are the
    deployment's own, so a rule the guide does not have goes."""
    ec2 = ctx.client("ec2")
    pages = ec2.get_paginator("describe_security_group_rules").paginate(
        Filters=[{"Name": "group-id", "Values": [group_id]}]
    )
    present = {
        r["SecurityGroupRuleId"]: R.from_rule_entry(r)
        for page in pages
        for r in page["SecurityGroupRules"]
        if bool(r.get("IsEgress")) == egress
    }
    unwanted = [rid for rid, rule in present.items() if rule not in wanted | keep]
    revoke = ec2.revoke_security_group_egress if egress else ec2.revoke_security_group_ingress
    if unwanted:
        revoke(GroupId=group_id, SecurityGroupRuleIds=unwanted)
    missing = [_permission(r) for r in sorted(wanted - set(present.values()))]
    authorize = (
        ec2.authorize_security_group_egress if egress else ec2.authorize_security_group_ingress
    )
    if missing:
        authorize(GroupId=group_id, IpPermissions=missing)


def _rules_fixer(check_id: str, creates: Callable[[Profile], str]) -> Fixer:
    """Create the guide's group if missing and make the rules its check judges exact; the
    plan names each rule it adds and revokes."""
    spec = GUIDE_RULES[check_id]

    def fixer(inv: Inventory, p: Profile) -> list[Action | Manual]:
        def apply(ctx: Ctx) -> None:
            gid = _ensure_group(ctx, spec.role)["GroupId"]
            exact_rules(
                ctx,
                gid,
                egress=spec.egress,
                wanted=spec.wanted(ctx.inv, p, gid),
                keep=spec.tolerated(ctx.inv, p, gid),
            )

        group = L.security_group(inv, p, spec.role)
        way = "Egress" if spec.egress else "Ingress"
        if group is None:
            name = getattr(p.security_groups, spec.role)
            made = [call("ec2", "CreateSecurityGroup", GroupName=name, VpcId=L.vpc_id(inv, p))]
            if spec.role == "internet":
                made.append(call("ec2", "AuthorizeSecurityGroupIngress", GroupId="<new group>"))
            made.append(call("ec2", f"AuthorizeSecurityGroup{way}", GroupId="<new group>"))
            return [Action(creates(p), apply, tuple(made))]
        diff = spec.differences(inv, p, group)
        gid = group["GroupId"]
        calls = []
        if diff["extra"]:
            calls.append(
                call(
                    "ec2",
                    f"RevokeSecurityGroup{way}",
                    GroupId=gid,
                    SecurityGroupRuleIds=f"<the ids of: {', '.join(diff['extra'])}>",
                )
            )
        if diff["missing"]:
            calls.append(
                call(
                    "ec2",
                    f"AuthorizeSecurityGroup{way}",
                    GroupId=gid,
                    IpPermissions=", ".join(diff["missing"]),
                )
            )
        direction = "outbound" if spec.egress else "inbound"
        words = [
            f"{verb} {direction} {', '.join(diff[k])}"
            for verb, k in (("allow", "missing"), ("revoke", "extra"))
            if diff[k]
        ]
        return [Action(f"{gid} ({group['GroupName']}): {'; '.join(words)}", apply, tuple(calls))]

    return fixes(check_id)(fixer)


_rules_fixer(
    "database_sg_admits_only_mysql_from_itself_and_access_host",
    lambda p: (
        f"create {p.security_groups.database} with inbound TCP {p.database.mysql_port} from itself"
    ),
)
_rules_fixer(
    "database_sg_egress_all_and_mysql_to_itself",
    lambda p: (
        f"create {p.security_groups.database} with outbound all traffic and TCP "
        f"{p.database.mysql_port} to itself"
    ),
)
_rules_fixer(
    "internet_sg_admits_only_http_https",
    lambda p: f"create {p.security_groups.internet} with inbound HTTP and HTTPS from anywhere",
)
_rules_fixer(
    "internet_sg_sends_only_http_https",
    lambda p: (
        f"create {p.security_groups.internet} with outbound HTTP and HTTPS to anywhere "
        "only (the default all-traffic rule revoked)"
    ),
)


@fixes("no_security_group_admits_internet_to_database_or_lambda")
def close_to_the_internet(inv: Inventory, p: Profile) -> list[Action | Manual]:
    """The guide's groups are made exact (their own fixers); another group the database or the
    function carries is the user's: perform says what to remove."""
    guide = {
        g["GroupId"]: role
        for role in ("database", "internet")
        if (g := L.security_group(inv, p, role)) is not None
    }
    steps: list[Action | Manual] = []
    carried = exposed_groups(inv, p)
    for gid, rules in world_open(inv, p).items():
        if guide.get(gid) == "internet" and "database" in carried[gid]:
            steps.append(
                Manual(
                    f"take {p.security_groups.internet} off the database: its web rules are for "
                    "the function (perform -m database_ec2 puts the instance in the database "
                    "group only)"
                )
            )
        elif gid in guide:
            fixer = FIXERS[
                "database_sg_admits_only_mysql_from_itself_and_access_host"
                if guide[gid] == "database"
                else "internet_sg_admits_only_http_https"
            ]
            steps += fixer(inv, p)
        else:
            steps.append(
                Manual(
                    f"security group {gid} (not the guide's) admits the internet: "
                    f"{', '.join(rules)}; revoke those rules, or take the group off the database "
                    "and the function (EC2 > Security Groups; perform never changes a group the "
                    "guide does not make)"
                )
            )
    return steps


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

    idle = [a["AllocationId"] for a in inv.addresses() if not a.get("AssociationId")]
    steps: list[Action | Manual] = []
    for i, eni in enumerate(todo):
        reuse = idle[i] if i < len(idle) else None
        calls = () if reuse else (call("ec2", "AllocateAddress", Domain="vpc"),)
        steps.append(
            Action(
                f"associate an Elastic IP (reusing an unassociated one first) with {eni}",
                apply_one(eni),
                (
                    *calls,
                    call(
                        "ec2",
                        "AssociateAddress",
                        AllocationId=reuse or "<new address>",
                        NetworkInterfaceId=eni,
                    ),
                ),
            )
        )
    return steps


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

    subnet = L.subnet(inv, p, public[0].name)
    return [
        Action(
            f"create NAT gateway {p.egress.nat_gateway_name} with an Elastic IP in "
            f"{public[0].name}; route the Lambda subnets through it",
            apply,
            (
                call("ec2", "AllocateAddress", Domain="vpc"),
                call(
                    "ec2",
                    "CreateNatGateway",
                    SubnetId=subnet["SubnetId"] if subnet else f"<{public[0].name}>",
                    AllocationId="<new address>",
                ),
                *(
                    c
                    for s in p.vpc.lambda_subnets
                    for c in route_calls(inv, p, s.name, "NatGatewayId", "<new NAT gateway>")
                ),
            ),
        )
    ]


fixes("lambda_subnets_route_to_nat_instance")(
    manual(
        "launch a NAT instance in the public subnet, disable its source/destination check "
        "and route the Lambda subnets' 0.0.0.0/0 to it (AWS: 'NAT instances')"
    )
)
fixes(
    "lambda_subnet_acls_let_web_traffic_out_and_back", "network_acls_let_mysql_reach_the_database"
)(
    manual(
        "a network ACL refuses the traffic named in the finding: add an allow entry with a lower "
        "rule number than the refusing one, or associate the subnet with the VPC's default ACL "
        "(VPC > Network ACLs; perform never changes an ACL)"
    )
)
fixes("function_logs_show_no_timeouts")(
    manual(
        "outbound connections time out: check the egress section (Elastic IPs / NAT) and "
        "the internet group's outbound rules, then invoke the function again"
    )
)
