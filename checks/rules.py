"""Security-group rules as flat, comparable facts: one (protocol, ports, peer) per peer.

AWS groups peers under one permission (``IpRanges``, ``Ipv6Ranges``, ``UserIdGroupPairs``,
``PrefixListIds``); judging "exactly the guide's rules" needs one fact per peer, so that an extra
peer on a wanted port is an extra rule, named as the console shows it.
"""

from __future__ import annotations

import ipaddress
from typing import Any, NamedTuple

WORLD = frozenset({"0.0.0.0/0", "::/0"})


def is_world(peer: str) -> bool:
    """A peer that is the internet at large: 0.0.0.0/0, ::/0, or a public range as wide as a
    /8 (IPv4) or a /16 (IPv6), such as 0.0.0.0/1 or 2000::/3."""
    if peer in WORLD:
        return True
    try:
        net = ipaddress.ip_network(peer, strict=False)
    except ValueError:
        return False  # a group or a prefix list
    widest = 8 if net.version == 4 else 16
    return net.prefixlen <= widest and not net.is_private


class Rule(NamedTuple):
    protocol: str  # "all", "tcp", "udp", "icmp", ... (AWS's "-1" is "all", "6" is "tcp")
    from_port: int | None  # None: every port
    to_port: int | None
    peer: str  # a CIDR, a group id or a prefix list id

    def __str__(self) -> str:
        ports = "" if self.from_port is None else f" {self.from_port}-{self.to_port}"
        return f"{self.protocol}{ports} {self.peer}"

    def covers(self, port: int) -> bool:
        """Whether the rule admits TCP ``port``."""
        if self.protocol == "all":
            return True
        return self.protocol == "tcp" and (self.from_port or 0) <= port <= (self.to_port or -1)


_PROTOCOLS = {"-1": "all", "6": "tcp", "17": "udp", "1": "icmp"}


def tcp(port: int, peer: str) -> Rule:
    return Rule("tcp", port, port, peer)


def everything(peer: str) -> Rule:
    return Rule("all", None, None, peer)


def _rule(permission: dict[str, Any], peer: str) -> Rule:
    protocol = str(permission.get("IpProtocol"))
    protocol = _PROTOCOLS.get(protocol, protocol)
    if protocol == "all" or permission.get("FromPort") in (None, -1):
        return Rule(protocol, None, None, peer)
    return Rule(protocol, permission["FromPort"], permission.get("ToPort"), peer)


def flat(permissions: list[dict[str, Any]]) -> list[Rule]:
    """One Rule per peer of each permission (as DescribeSecurityGroups lists them)."""
    return [_rule(p, peer) for p in permissions for peer in sorted(peers(p))]


def peers(permission: dict[str, Any]) -> set[str]:
    """Every peer of a permission: CIDRs, group ids and prefix lists."""
    out = {r["CidrIp"] for r in permission.get("IpRanges", [])}
    out |= {r["CidrIpv6"] for r in permission.get("Ipv6Ranges", [])}
    out |= {r["GroupId"] for r in permission.get("UserIdGroupPairs", [])}
    out |= {r["PrefixListId"] for r in permission.get("PrefixListIds", [])}
    return out


def from_rule_entry(entry: dict[str, Any]) -> Rule:
    """A Rule from DescribeSecurityGroupRules' one-peer shape (what a revoke names by id)."""
    peer = (
        entry.get("CidrIpv4")
        or entry.get("CidrIpv6")
        or (entry.get("ReferencedGroupInfo") or {}).get("GroupId")
        or entry.get("PrefixListId")
        or ""
    )
    return _rule(entry, peer)


def admits(permissions: list[dict[str, Any]], port: int, peer: str) -> bool:
    return any(r.peer == peer and r.covers(port) for r in flat(permissions))


def texts(permissions: list[dict[str, Any]]) -> list[str]:
    """A group's rules as the console shows them, for evidence: 'tcp 3306-3306 sg-123'."""
    return [str(r) for r in flat(permissions)]
