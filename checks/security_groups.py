"""Creating security groups: the guide's two groups hold exactly the guide's rules, and nothing
the database or the Lambda carries admits the internet.

Rules are judged one peer at a time (``checks/rules.py``): a wanted port with an extra peer is
an extra rule, and every extra rule is named. The database group's inbound rules also admit
the access host's group, the rule the section "Accessing the database" adds; whether that rule
is there is that section's check, so its absence fails only there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from checks import lookup as L
from checks import rules as R
from checks.access_paths import endpoint_groups
from runbook.findings import Outcome, failed, judged
from runbook.profile import Profile
from runbook.registry import check

if TYPE_CHECKING:
    from runbook.aws.inventory import Inventory

HTTP_PORTS = (80, 443)


RuleSet = Callable[["Inventory", Profile, str], set[R.Rule]]


def _none(inv: Inventory, p: Profile, group_id: str) -> set[R.Rule]:
    return set()


def database_ingress_tolerated(inv: Inventory, p: Profile, group_id: str) -> set[R.Rule]:
    """The database group's inbound rules the guide has besides the one from itself: MySQL
    from the access host's groups, and (EC2) SSH from them, how MySQL gets onto the instance
    (the guide: "having connected to it by that ... scp them over"). With no access host found,
    such a rule from any group is taken for it (the access host's own check says it is gone)."""
    ports = [p.database.mysql_port] + ([22] if p.variants.database == "ec2" else [])
    # An Instance Connect Endpoint reaching the database instance itself comes in on SSH.
    endpoints = (
        {R.tcp(22, g) for g in endpoint_groups(inv, p)}
        if p.variants.access_host == "instance-connect-endpoint"
        else set()
    )
    hosts = L.access_host_groups(inv, p)
    if hosts is not None:
        return {R.tcp(port, g) for g in hosts for port in ports} | endpoints
    rules = R.flat(L.ingress_rules(L.security_group(inv, p, "database") or {}))
    return {
        r
        for r in rules
        if r.peer.startswith("sg-")
        and r.peer != group_id
        and r in {R.tcp(x, r.peer) for x in ports}
    } | endpoints


WEB_RULES = frozenset(R.tcp(port, "0.0.0.0/0") for port in HTTP_PORTS)
WEB_RULES_V6 = frozenset(R.tcp(port, "::/0") for port in HTTP_PORTS)


@dataclass(frozen=True)
class GuideRules:
    """One direction of one of the guide's groups: the rules it must hold, and those it may."""

    role: str  # the profile's name for the group: "database" or "internet"
    egress: bool
    wanted: RuleSet
    tolerated: RuleSet = _none

    def differences(self, inv: Inventory, p: Profile, group: dict) -> dict[str, list[str]]:
        """The wanted rules the group lacks, and its rules neither wanted nor tolerated."""
        gid = group["GroupId"]
        permissions = L.egress_rules(group) if self.egress else L.ingress_rules(group)
        wanted, tolerated = self.wanted(inv, p, gid), self.tolerated(inv, p, gid)
        have = set(R.flat(permissions))
        return {
            "missing": sorted(str(r) for r in wanted - have),
            "extra": sorted(str(r) for r in have - wanted - tolerated),
        }

    def judge(self, inv: Inventory, p: Profile, advisory: str | None = None) -> Outcome:
        group = L.security_group(inv, p, self.role)
        if group is None:
            name = getattr(p.security_groups, self.role)
            return failed(
                f"security group {name!r} does not exist in the VPC", expected=name, actual=None
            )
        gid = group["GroupId"]
        permissions = L.egress_rules(group) if self.egress else L.ingress_rules(group)
        wanted, tolerated = self.wanted(inv, p, gid), self.tolerated(inv, p, gid)
        diff = self.differences(inv, p, group)
        parts = [f"{k} {', '.join(v)}" for k, v in diff.items() if v]
        way = "outbound" if self.egress else "inbound"
        return judged(
            not any(diff.values()),
            f"{way} rules of {gid}: " + ("; ".join(parts) or "as the guide says"),
            differs={k: v for k, v in diff.items() if v},
            expected=sorted(str(r) for r in wanted)
            + sorted(f"{r} (allowed, not required)" for r in tolerated - wanted),
            actual=R.texts(permissions),
            evidence={"GroupId": gid},
            advisories=(advisory,) if advisory and permissions else (),
        )


GUIDE_RULES = {
    "database_sg_admits_only_mysql_from_itself_and_access_host": GuideRules(
        "database",
        False,
        lambda inv, p, gid: {R.tcp(p.database.mysql_port, gid)},
        database_ingress_tolerated,
    ),
    "database_sg_egress_all_and_mysql_to_itself": GuideRules(
        "database",
        True,
        lambda inv, p, gid: {R.everything("0.0.0.0/0"), R.tcp(p.database.mysql_port, gid)},
    ),
    # The guide adds inbound 80/443 (the group is made with them); Lambda needs none, so their
    # absence is the advisory's hardening, not a fault.
    "internet_sg_admits_only_http_https": GuideRules(
        "internet", False, _none, lambda inv, p, gid: set(WEB_RULES | WEB_RULES_V6)
    ),
    "internet_sg_sends_only_http_https": GuideRules(
        "internet", True, lambda inv, p, gid: set(WEB_RULES)
    ),
}


@check(
    id="database_sg_admits_only_mysql_from_itself_and_access_host",
    section="security_groups",
    says="the database security group admits only MySQL, from itself and the access host's group",
    guide="inbound rule MYSQL/Aurora with the source set to this group's own id (and, in "
    "'Accessing the database', one from the access host's group); no other inbound rule",
    severity="high",
    risk="a missing rule keeps the Lambda from MySQL; an extra one lets others in",
)
def db_sg_ingress(inv: Inventory, p: Profile) -> Outcome:
    return GUIDE_RULES["database_sg_admits_only_mysql_from_itself_and_access_host"].judge(inv, p)


@check(
    id="database_sg_egress_all_and_mysql_to_itself",
    section="security_groups",
    says="the database security group keeps all outbound traffic and sends TCP 3306 to itself",
    guide="leave the default outbound rule and add MYSQL/Aurora to this group's own id",
    severity="high",
    risk="the Lambda carries this group too: without MySQL to itself it cannot reach the database",
)
def db_sg_egress(inv: Inventory, p: Profile) -> Outcome:
    return GUIDE_RULES["database_sg_egress_all_and_mysql_to_itself"].judge(inv, p)


@check(
    id="internet_sg_admits_only_http_https",
    section="security_groups",
    says="the internet security group admits nothing but TCP 80 and 443 from anywhere",
    guide="inbound rules HTTP and HTTPS with the source 0.0.0.0/0 (not needed: they may go); "
    "no other inbound rule",
    severity="medium",
    risk="an extra inbound rule exposes the Lambda's interfaces",
)
def internet_sg_ingress(inv: Inventory, p: Profile) -> Outcome:
    return GUIDE_RULES["internet_sg_admits_only_http_https"].judge(
        inv,
        p,
        "hardening beyond the guide: Lambda egress needs no inbound rules; the inbound "
        "80/443 rules can be removed",
    )


@check(
    id="internet_sg_sends_only_http_https",
    section="security_groups",
    says="the internet security group sends only TCP 80 and 443 to anywhere",
    guide="remove the default outbound rule; add HTTP and HTTPS to 0.0.0.0/0",
    severity="high",
    risk="without HTTPS out the notifier cannot reach Wikidot or Gmail; with more, the "
    "function may send anything anywhere",
)
def internet_sg_egress(inv: Inventory, p: Profile) -> Outcome:
    return GUIDE_RULES["internet_sg_sends_only_http_https"].judge(inv, p)


def exposed_groups(inv: Inventory, p: Profile) -> dict[str, set[str]]:
    """Every group judged for exposure, with who carries it: the guide's two groups and
    every group the database or the Lambda carries."""
    carriers: dict[str, set[str]] = {}
    for role in ("database", "internet"):
        found = L.security_group(inv, p, role)
        if found:
            carriers.setdefault(found["GroupId"], set())
    for gid in L.database_groups(inv, p):
        carriers.setdefault(gid, set()).add("database")
    for gid in L.function_groups(inv, p):
        carriers.setdefault(gid, set()).add("function")
    return carriers


def world_open(inv: Inventory, p: Profile) -> dict[str, list[str]]:
    """Per group id, the inbound rules that admit the internet, but the internet group's own
    HTTP/HTTPS rules while only the function carries it (the guide's, an advisory there)."""
    internet = L.security_group(inv, p, "internet")
    by_id = {g["GroupId"]: g for g in inv.security_groups()}
    out: dict[str, list[str]] = {}
    for gid, carried_by in sorted(exposed_groups(inv, p).items()):
        guide_web = internet is not None and gid == internet["GroupId"]
        for rule in R.flat(L.ingress_rules(by_id.get(gid, {}))):
            if not R.is_world(rule.peer):
                continue
            if guide_web and "database" not in carried_by and rule in WEB_RULES | WEB_RULES_V6:
                continue
            out.setdefault(gid, []).append(str(rule))
    return out


@check(
    id="no_security_group_admits_internet_to_database_or_lambda",
    section="security_groups",
    says="no security group of the database or the Lambda admits the internet, but the "
    "internet group's web rules",
    guide="the database is reached only from its own group and the access host; no rule admits "
    "0.0.0.0/0 or ::/0 to the database or the Lambda (the guide's 80/443 on the internet group "
    "aside)",
    severity="critical",
    risk="the database or the function is reachable from the whole internet",
)
def no_world_ingress(inv: Inventory, p: Profile) -> Outcome:
    carriers = exposed_groups(inv, p)
    open_rules = world_open(inv, p)
    names = {g["GroupId"]: g["GroupName"] for g in inv.security_groups()}
    actual = {f"{gid} ({names.get(gid, '?')})": rules for gid, rules in open_rules.items()}
    return judged(
        not open_rules,
        resource=", ".join(actual) or None,
        differs={
            "open to the internet": [f"{g}: {r}" for g, rules in actual.items() for r in rules]
        },
        summary="open to the internet: "
        + "; ".join(f"{g}: {', '.join(r)}" for g, r in actual.items())
        if open_rules
        else f"{len(carriers)} group(s) admit nothing from the internet beyond the guide's",
        expected={},
        actual=actual,
        evidence={
            "groups": {
                f"{gid} ({names.get(gid, '?')})": sorted(by) or ["the guide's group"]
                for gid, by in carriers.items()
            }
        },
    )
