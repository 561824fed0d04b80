"""Estimated costs: what is deployed, priced with the profile's table, against the budget."""

from __future__ import annotations

from typing import TYPE_CHECKING

from checks import lookup as L
from runbook.findings import Outcome, judged
from runbook.profile import Profile
from runbook.registry import check

if TYPE_CHECKING:
    from runbook.aws.inventory import Inventory

# The guide's own monthly figures, shown next to the estimate.
GUIDE_FIGURES = {
    "ec2-database-usage": 1.08,
    "ec2-database-unlimited-cpu": 7.30,
    "ec2-database-storage": 0.19,
    "aurora-serverless-v1": 17.50,
    "nat-gateway": 37.50,
    "nat-instance": 3.50,
    "elastic-ips-on-lambda-enis": 0.0,
}


@check(
    id="vpc_has_no_nat_gateway_unless_nat_variant",
    section="costs",
    says="no NAT gateway exists in the VPC unless egress goes through one",
    guide="attaching Elastic IPs to the Lambda network interfaces: $0.00 (a NAT gateway "
    "would cost $37.50/month)",
    severity="medium",
    risk="a NAT gateway bills about $37.50 a month, several times the notifier's budget",
)
def nat_gateways(inv: Inventory, p: Profile) -> Outcome:
    vid = L.vpc_id(inv, p)
    live = [
        n["NatGatewayId"]
        for n in inv.nat_gateways()
        if n.get("VpcId") == vid and n.get("State") in ("pending", "available")
    ]
    allowed = 1 if p.variants.egress == "nat-gateway" else 0
    return judged(
        len(live) <= allowed,
        f"{len(live)} NAT gateway(s) in the VPC",
        expected=f"at most {allowed}",
        actual=live,
    )


@check(
    id="region_has_no_idle_elastic_ip",
    section="costs",
    says="no Elastic IP in the region is left unassociated",
    guide="reuse old unused Elastic IPs: you are charged for unused ones",
    severity="low",
    risk="an Elastic IP nothing uses bills about $3.60 a month",
)
def idle_eips(inv: Inventory, p: Profile) -> Outcome:
    idle = [a.get("PublicIp") for a in inv.addresses() if not a.get("AssociationId")]
    return judged(not idle, f"{len(idle)} unassociated Elastic IP(s)", expected=[], actual=idle)


@check(
    id="database_capacity_allowed_by_profile",
    section="costs",
    says="the database's instance type or capacity is one the profile allows",
    guide="t3.nano in unlimited mode, t4g.nano or c6g.medium; Aurora: max 1 ACU, scale to 0",
    severity="medium",
    risk="a larger database multiplies the deployment's cost",
)
def database_capacity(inv: Inventory, p: Profile) -> Outcome:
    if p.variants.aurora:
        cluster = inv.db_cluster(p.database.cluster)
        if cluster is None:
            return judged(
                True, "no Aurora cluster yet: nothing to price", expected=None, actual=None
            )
        cap = _aurora_max_capacity(cluster)
        return judged(
            cap is not None and cap <= p.database.max_capacity,
            "max capacity (ACU)",
            expected=f"<= {p.database.max_capacity}",
            actual=cap,
        )
    inst = L.db_instance(inv, p)
    if inst is None:  # nothing deployed costs nothing; its absence is the database's check
        return judged(
            True,
            "no database instance yet: nothing to price",
            expected=list(p.database.allowed_instance_types),
            actual=None,
        )
    kind = inst["InstanceType"]
    return judged(
        kind in p.database.allowed_instance_types,
        "instance type",
        expected=list(p.database.allowed_instance_types),
        actual=kind,
    )


def _aurora_max_capacity(cluster: dict) -> float | None:
    v1 = cluster.get("ScalingConfigurationInfo") or {}
    v2 = cluster.get("ServerlessV2ScalingConfiguration") or {}
    cap = v1.get("MaxCapacity", v2.get("MaxCapacity"))
    return float(cap) if cap is not None else None


def estimate(inv: Inventory, p: Profile) -> dict[str, float]:
    """Monthly USD per item, from what is deployed (not from what the profile wants)."""
    c = p.costs
    items: dict[str, float] = {}
    if p.variants.aurora:
        cluster = inv.db_cluster(p.database.cluster)
        cap = (_aurora_max_capacity(cluster) if cluster else None) or 0.0
        items["aurora-capacity"] = cap * c.aurora_active_hours_per_month * c.aurora_acu_hour
    else:
        inst = L.db_instance(inv, p)
        if inst is not None:
            kind = inst["InstanceType"]
            hours = c.database_hours_per_month
            items["ec2-database-usage"] = c.instance_hour.get(kind, 0.0) * hours
            if kind.startswith("t") and inv.credit_specification(inst["InstanceId"]) == "unlimited":
                # the guide: full single-core use, i.e. 50% of a 2-vCPU burstable instance
                vcpus = c.instance_vcpus.get(kind, 2) / 2
                items["ec2-database-unlimited-cpu"] = vcpus * hours * c.unlimited_vcpu_hour
            size = sum(
                v.get("Size", 0)
                for v in inv.volumes()
                if any(a.get("InstanceId") == inst["InstanceId"] for a in v.get("Attachments", []))
            )
            items["ec2-database-storage"] = size * c.gp3_gb_month
    vid = L.vpc_id(inv, p)
    nats = [
        n
        for n in inv.nat_gateways()
        if n.get("VpcId") == vid and n.get("State") in ("pending", "available")
    ]
    if nats:
        items["nat-gateway"] = len(nats) * c.hours_per_month * c.nat_gateway_hour
    idle = [a for a in inv.addresses() if not a.get("AssociationId")]
    if idle:
        items["idle-elastic-ips"] = len(idle) * c.hours_per_month * c.idle_eip_hour
    if p.variants.egress == "nat-instance":
        nat = L.instance_named(inv, p.egress.nat_instance_name)
        if nat is not None:
            items["nat-instance"] = (
                c.instance_hour.get(nat["InstanceType"], 0.0) * c.hours_per_month
            )
    return {k: round(v, 2) for k, v in items.items()}


@check(
    id="monthly_cost_estimate_within_budget",
    section="costs",
    says="the estimated monthly cost of what is deployed is within the profile's budget",
    guide="breakdown of the estimated cost for a 730-hour month",
    severity="medium",
    risk="the deployment costs more than its budget",
)
def monthly_cost(inv: Inventory, p: Profile) -> Outcome:
    items = estimate(inv, p)
    total = round(sum(items.values()), 2)
    guide = {k: v for k, v in GUIDE_FIGURES.items() if k in items}
    return judged(
        total <= p.costs.budget_usd_month,
        f"${total:.2f}/month",
        expected=f"<= ${p.costs.budget_usd_month:.2f}",
        actual=total,
        evidence={"breakdown_usd": items, "guide_figures_usd": guide},
    )
