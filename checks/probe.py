"""Enabling internet access for the Lambda, shown by traffic: the opt-in active egress probe."""

from __future__ import annotations

from typing import TYPE_CHECKING

from checks import lookup as L
from runbook.findings import Outcome, absent, failed, judged
from runbook.profile import Profile
from runbook.registry import check

if TYPE_CHECKING:
    from runbook.aws.inventory import Inventory

OPT_IN = "opt-in: run with --probe-egress or set probe.enabled"


def probe_enabled(p: Profile) -> str | None:
    """The probe creates and deletes a function: it runs only when asked for."""
    return None if p.probe.enabled else OPT_IN


def expected_ips(inv: Inventory, p: Profile) -> dict[str, str]:
    """The public IPs the Lambda's traffic should leave from, each with what holds it: the
    Elastic IPs on the Lambda's ENIs, or those of the NAT its subnets' default routes use."""
    if p.variants.egress == "eip":
        enis = {e["NetworkInterfaceId"] for e in L.lambda_enis(inv, p.function.function)}
        return {
            a["PublicIp"]: a["NetworkInterfaceId"]
            for a in inv.addresses()
            if a.get("NetworkInterfaceId") in enis
        }
    key = "NatGatewayId" if p.variants.egress == "nat-gateway" else "InstanceId"
    targets = {
        (L.default_route(L.route_table_of(inv, s)) or {}).get(key) for s in L.lambda_subnets(inv, p)
    } - {None}
    if key == "NatGatewayId":
        return {
            a["PublicIp"]: n["NatGatewayId"]
            for n in inv.nat_gateways()
            if n["NatGatewayId"] in targets
            for a in n.get("NatGatewayAddresses", [])
            if a.get("PublicIp")
        }
    ips = {
        i["PublicIpAddress"]: i["InstanceId"]
        for i in inv.instances()
        if i["InstanceId"] in targets and i.get("PublicIpAddress")
    }
    ips.update(
        {a["PublicIp"]: a["InstanceId"] for a in inv.addresses() if a.get("InstanceId") in targets}
    )
    return ips


@check(
    id="egress_probe_public_ip_is_expected",
    section="egress",
    says="a probe function in the Lambda's subnets reaches the internet from an expected public IP",
    guide="give the Lambda's subnets their way out (an Elastic IP on each Lambda ENI, or the "
    "NAT) so that its outbound HTTPS leaves from that address",
    applies=probe_enabled,
    severity="high",
    risk="the function's traffic leaves from an unexpected address, or not at all",
)
def egress_probe(inv: Inventory, p: Profile) -> Outcome:
    cfg = L.function_config(inv, p)
    if cfg is None:
        return absent("function", p.function.function)
    if not (cfg.get("VpcConfig") or {}).get("SubnetIds"):
        return failed(
            "the function is not in a VPC: no subnets to probe from",
            expected="the Lambda's subnets and security groups",
            actual=None,
        )
    expected = expected_ips(inv, p)
    probe = p.probe
    got = inv.egress_probe(
        p.function.function, probe.name_prefix, probe.url, f"{probe.timeout_s:g}"
    )
    evidence = {
        "probe_function": got["function"],
        "subnets": got["subnets"],
        "security_groups": got["security_groups"],
        "expected_from": expected,
        "swept_leftovers": got["swept"],
        "elapsed_s": got["elapsed_s"],
    }
    advisories = (got["left_behind"],) if got["left_behind"] else ()
    if got["unreachable"]:
        return failed(
            f"the probe in the Lambda's subnets could not reach {probe.url}: {got['unreachable']}",
            expected=sorted(expected),
            actual=None,
            evidence=evidence,
            advisories=advisories,
        )
    ip = got["ip"]
    ok = ip in expected
    return judged(
        ok,
        f"the probe reached the internet from {ip}" + ("" if ok else ", not an expected IP"),
        expected=sorted(expected),
        actual=ip,
        evidence=evidence,
        advisories=advisories,
    )
