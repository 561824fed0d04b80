"""Network ACLs on the notifier's paths: the Lambda's way out to the internet, and MySQL's way
from the Lambda and the access host to the database.

A security group is stateful; a network ACL is not: every packet is judged both ways, by the
first entry (lowest rule number) that matches it, and an ACL that denies outbound 443 or the
answers' ephemeral ports breaks egress as surely as a missing route. A flow here is a set of
(port, address) pairs; it is allowed when every pair of it meets an allow before any deny.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from checks import lookup as L
from runbook.findings import Outcome, judged
from runbook.profile import Profile
from runbook.registry import check

if TYPE_CHECKING:
    from runbook.aws.inventory import Inventory

Network = ipaddress.IPv4Network
# The ports a client's connection comes from, and its answers go back to.
LAMBDA_EPHEMERAL = (1024, 65535)  # AWS: Lambda functions use ports 1024-65535
LINUX_EPHEMERAL = (32768, 60999)  # Linux's default ip_local_port_range (the access host)
WEB_PORTS = ((80, 80), (443, 443))


@dataclass(frozen=True)
class Flow:
    subnet: dict[str, Any]
    egress: bool
    ports: tuple[int, int]
    peers: tuple[Network, ...]
    says: str  # "to the internet", "from the database 10.0.0.5/32", ...

    def __str__(self) -> str:
        way = "outbound" if self.egress else "inbound"
        low, high = self.ports
        ports = str(low) if low == high else f"{low}-{high}"
        return f"{L.tag(self.subnet) or self.subnet['SubnetId']}: {way} tcp {ports} {self.says}"


def acl_of(inv: Inventory, subnet: dict[str, Any]) -> dict[str, Any] | None:
    """The subnet's network ACL: the one associated with it, else the VPC's default."""
    acls = [a for a in inv.network_acls() if a.get("VpcId") == subnet["VpcId"]]
    for acl in acls:
        if any(a.get("SubnetId") == subnet["SubnetId"] for a in acl.get("Associations", [])):
            return acl
    return next((a for a in acls if a.get("IsDefault")), None)


def _entry_text(entry: dict[str, Any]) -> str:
    proto = {"-1": "all", "6": "tcp"}.get(str(entry.get("Protocol")), entry.get("Protocol"))
    ports = entry.get("PortRange")
    where = f" {ports['From']}-{ports['To']}" if ports and proto != "all" else ""
    number = "*" if entry.get("RuleNumber") == 32767 else entry.get("RuleNumber")
    return f"rule {number} {entry.get('RuleAction')} {proto}{where} {entry.get('CidrBlock')}"


def _entry_ports(entry: dict[str, Any]) -> tuple[int, int]:
    ports = entry.get("PortRange")
    if str(entry.get("Protocol")) == "-1" or not ports:
        return 0, 65535
    return ports["From"], ports["To"]


Piece = tuple[int, int, Network]  # ports low..high, to or from these addresses


def _minus(piece: Piece, ports: tuple[int, int], net: Network) -> list[Piece]:
    """What remains of a piece once an entry's ports × addresses are taken out."""
    low, high, addresses = piece
    out: list[Piece] = []
    if low < ports[0]:
        out.append((low, min(high, ports[0] - 1), addresses))
    if high > ports[1]:
        out.append((max(low, ports[1] + 1), high, addresses))
    if not addresses.subnet_of(net):  # overlapping CIDRs: the entry's is inside this one
        both = (max(low, ports[0]), min(high, ports[1]))
        out.extend((*both, rest) for rest in addresses.address_exclude(net))
    return out


def refusal(acl: dict[str, Any] | None, flow: Flow) -> str | None:
    """None when the ACL lets the whole flow through, else the entry that refuses part of it."""
    if acl is None:
        return None  # no ACL found: nothing to judge (the VPC checks report a missing VPC)
    left: list[Piece] = [(*flow.ports, net) for net in flow.peers]
    for entry in sorted(acl.get("Entries", []), key=lambda e: e.get("RuleNumber", 0)):
        if not left:
            return None
        if (
            bool(entry.get("Egress")) != flow.egress
            or str(entry.get("Protocol")) not in ("-1", "6", "tcp")
            or not entry.get("CidrBlock")  # an IPv6 entry: the notifier's paths are IPv4
        ):
            continue
        ports, net = _entry_ports(entry), _net(entry["CidrBlock"])
        hit = [
            piece
            for piece in left
            if piece[0] <= ports[1] and ports[0] <= piece[1] and piece[2].overlaps(net)
        ]
        if not hit:
            continue
        if entry.get("RuleAction") != "allow":
            return _entry_text(entry)
        left = [
            rest
            for piece in left
            for rest in (_minus(piece, ports, net) if piece in hit else [piece])
        ]
    return "no entry allows it" if left else None


def _refused(inv: Inventory, flows: list[Flow]) -> list[str]:
    out = []
    for flow in flows:
        acl = acl_of(inv, flow.subnet)
        why = refusal(acl, flow)
        if why:
            out.append(f"{flow} — refused by {acl['NetworkAclId']} {why}")
    return out


def _net(cidr: str) -> Network:
    return ipaddress.ip_network(cidr, strict=False)


def internet(inv: Inventory, p: Profile) -> tuple[Network, ...]:
    """The addresses the notifier talks to on the internet: the public ones (not the VPC, not
    the private ranges an anti-spoofing ACL may deny)."""
    vpc = L.vpc(inv, p)
    left = [_net("0.0.0.0/0")]
    for private in (*L.NOT_INTERNET, *([_net(vpc["CidrBlock"])] if vpc else [])):
        left = [
            rest
            for net in left
            for rest in (
                net.address_exclude(private)
                if private.subnet_of(net)
                else []
                if net.subnet_of(private)
                else [net]
            )
        ]
    return tuple(sorted(left))


def _web_flows(
    subnet: dict[str, Any],
    out_to: tuple[Network, ...],
    back_from: tuple[Network, ...],
    says_out: str,
    says_back: str,
) -> list[Flow]:
    flows = [Flow(subnet, True, ports, out_to, says_out) for ports in WEB_PORTS]
    flows.append(Flow(subnet, False, LAMBDA_EPHEMERAL, back_from, says_back))
    return flows


def egress_flows(inv: Inventory, p: Profile) -> list[Flow]:
    """HTTP/HTTPS out of the Lambda subnets and their answers back; through a NAT, the NAT's
    subnet too (from the Lambda subnets, out to the internet, and both answers)."""
    world = internet(inv, p)
    lambdas = L.lambda_subnets(inv, p)
    flows = [
        f
        for s in lambdas
        for f in _web_flows(s, world, world, "to the internet", "from the internet")
    ]
    nat = nat_subnet(inv, p)
    if nat is not None:
        inside = tuple(_net(s["CidrBlock"]) for s in lambdas)
        flows += [Flow(nat, False, ports, inside, "from the Lambda subnets") for ports in WEB_PORTS]
        flows += _web_flows(nat, world, world, "to the internet", "from the internet")
        flows.append(Flow(nat, True, LAMBDA_EPHEMERAL, inside, "to the Lambda subnets"))
    return flows


def nat_subnet(inv: Inventory, p: Profile) -> dict[str, Any] | None:
    """The subnet of the NAT the Lambda subnets route through (NAT variants), if found."""
    by_id = {s["SubnetId"]: s for s in inv.subnets()}
    if p.variants.egress == "nat-gateway":
        targets = {
            (L.default_route(L.route_table_of(inv, s)) or {}).get("NatGatewayId")
            for s in L.lambda_subnets(inv, p)
        }
        gateways = [n for n in inv.nat_gateways() if n.get("NatGatewayId") in targets]
        return by_id.get(gateways[0].get("SubnetId")) if gateways else None
    if p.variants.egress == "nat-instance":
        nat = L.instance_named(inv, p.egress.nat_instance_name)
        return by_id.get(nat.get("SubnetId")) if nat else None
    return None


@check(
    id="lambda_subnet_acls_let_web_traffic_out_and_back",
    section="egress",
    says="the network ACLs let the Lambda's HTTP and HTTPS out to the internet and back",
    guide="network ACLs are stateless: the Lambda subnets' ACLs (and the NAT's) must allow "
    "outbound TCP 80/443 to 0.0.0.0/0 and inbound TCP 1024-65535 from it (the VPC's default "
    "ACL allows everything)",
    severity="high",
    risk="a network ACL drops HTTPS or its answers: runs time out",
)
def egress_acls(inv: Inventory, p: Profile) -> Outcome:
    flows = egress_flows(inv, p)
    refused = _refused(inv, flows)
    return judged(
        bool(flows) and not refused,
        f"{len(refused)} of {len(flows)} flow(s) refused" if flows else "no Lambda subnet found",
        expected=[],
        actual=refused,
        evidence={"acls": _acl_ids(inv, flows)},
    )


def _acl_ids(inv: Inventory, flows: list[Flow]) -> list[str]:
    return sorted({acl["NetworkAclId"] for acl in (acl_of(inv, f.subnet) for f in flows) if acl})


@dataclass(frozen=True)
class End:
    subnet: dict[str, Any]
    address: Network
    ephemeral: tuple[int, int]
    name: str


def database_ends(inv: Inventory, p: Profile) -> list[End]:
    """Where MySQL answers: the instance's address, or each subnet of the cluster's group."""
    by_id = {s["SubnetId"]: s for s in inv.subnets()}
    if p.variants.aurora:
        cluster = inv.db_cluster(p.database.cluster) or {}
        group = inv.db_subnet_group(cluster.get("DBSubnetGroup", "")) if cluster else None
        subnets = [
            by_id[s["SubnetIdentifier"]]
            for s in (group or {}).get("Subnets", [])
            if s["SubnetIdentifier"] in by_id
        ]
        return [End(s, _net(s["CidrBlock"]), LAMBDA_EPHEMERAL, "the cluster") for s in subnets]
    inst = L.db_instance(inv, p)
    if inst is None or inst.get("SubnetId") not in by_id or not inst.get("PrivateIpAddress"):
        return []
    address = _net(inst["PrivateIpAddress"] + "/32")
    return [End(by_id[inst["SubnetId"]], address, LINUX_EPHEMERAL, f"the database {address}")]


def database_clients(inv: Inventory, p: Profile) -> list[End]:
    """Who connects to MySQL: the Lambda subnets, and the access host."""
    ends = [
        End(s, _net(s["CidrBlock"]), LAMBDA_EPHEMERAL, f"the Lambda subnet {s['CidrBlock']}")
        for s in L.lambda_subnets(inv, p)
    ]
    host = L.access_host(inv, p)
    subnet = next(
        (s for s in inv.subnets() if host and s["SubnetId"] == host.get("SubnetId")), None
    )
    if subnet is not None and host.get("PrivateIpAddress"):
        address = _net(host["PrivateIpAddress"] + "/32")
        ends.append(End(subnet, address, LINUX_EPHEMERAL, f"the access host {address}"))
    return ends


def mysql_flows(inv: Inventory, p: Profile) -> list[Flow]:
    """Each client's connection to each database end across two subnets, both ways and both
    ACLs (within one subnet no ACL applies)."""
    port = (p.database.mysql_port, p.database.mysql_port)
    flows = []
    for client in database_clients(inv, p):
        for db in database_ends(inv, p):
            if client.subnet["SubnetId"] == db.subnet["SubnetId"]:
                continue
            flows += [
                Flow(client.subnet, True, port, (db.address,), f"to {db.name}"),
                Flow(db.subnet, False, port, (client.address,), f"from {client.name}"),
                Flow(db.subnet, True, client.ephemeral, (client.address,), f"to {client.name}"),
                Flow(client.subnet, False, client.ephemeral, (db.address,), f"from {db.name}"),
            ]
    return flows


@check(
    id="network_acls_let_mysql_reach_the_database",
    section="database_access",
    says="the network ACLs let MySQL through from the Lambda subnets and the access host to the "
    "database and back",
    guide="network ACLs are stateless: between the Lambda's (and the access host's) subnets and "
    "the database's, TCP 3306 one way and the ephemeral ports back must be allowed",
    severity="high",
    risk="a network ACL drops MySQL between the Lambda (or the access host) and the database: "
    "runs fail",
)
def mysql_acls(inv: Inventory, p: Profile) -> Outcome:
    flows = mysql_flows(inv, p)
    refused = _refused(inv, flows)
    return judged(
        not refused,
        f"{len(refused)} of {len(flows)} flow(s) refused",
        expected=[],
        actual=refused,
        evidence={"acls": _acl_ids(inv, flows)},
    )
