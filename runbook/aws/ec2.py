"""EC2 and VPC collections, region-wide and paginated: one call serves every check."""

from __future__ import annotations

from typing import Any

from runbook.aws.collected import collected


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        out.extend(page.get(key, []))
    return out


class Ec2Collector:
    session: Any
    _cache: dict[str, Any]

    @property
    def _ec2(self) -> Any:
        return self.session.client("ec2")

    @collected("ec2", reads=("DescribeVpcs",))
    def vpcs(self) -> list[dict[str, Any]]:
        return _pages(self._ec2, "describe_vpcs", "Vpcs")

    @collected("ec2", reads=("DescribeSubnets",))
    def subnets(self) -> list[dict[str, Any]]:
        return _pages(self._ec2, "describe_subnets", "Subnets")

    @collected("ec2", reads=("DescribeRouteTables",))
    def route_tables(self) -> list[dict[str, Any]]:
        return _pages(self._ec2, "describe_route_tables", "RouteTables")

    @collected("ec2", reads=("DescribeInternetGateways",))
    def internet_gateways(self) -> list[dict[str, Any]]:
        return _pages(self._ec2, "describe_internet_gateways", "InternetGateways")

    @collected("ec2", reads=("DescribeNatGateways",))
    def nat_gateways(self) -> list[dict[str, Any]]:
        return _pages(self._ec2, "describe_nat_gateways", "NatGateways")

    @collected("ec2", reads=("DescribeNetworkAcls",))
    def network_acls(self) -> list[dict[str, Any]]:
        return _pages(self._ec2, "describe_network_acls", "NetworkAcls")

    @collected("ec2", reads=("DescribeSecurityGroups",))
    def security_groups(self) -> list[dict[str, Any]]:
        return _pages(self._ec2, "describe_security_groups", "SecurityGroups")

    @collected("ec2", reads=("DescribeInstances",))
    def instances(self) -> list[dict[str, Any]]:
        reservations = _pages(self._ec2, "describe_instances", "Reservations")
        return [
            i
            for r in reservations
            for i in r.get("Instances", [])
            if i.get("State", {}).get("Name") not in ("terminated", "shutting-down")
        ]

    @collected("ec2", reads=("DescribeInstanceConnectEndpoints",))
    def instance_connect_endpoints(self) -> list[dict[str, Any]]:
        endpoints = _pages(
            self._ec2, "describe_instance_connect_endpoints", "InstanceConnectEndpoints"
        )
        return [{k: str(v) if k == "CreatedAt" else v for k, v in e.items()} for e in endpoints]

    @collected("ec2", reads=("DescribeAddresses",))
    def addresses(self) -> list[dict[str, Any]]:
        return self._ec2.describe_addresses().get("Addresses", [])

    @collected("ec2", reads=("DescribeNetworkInterfaces",))
    def network_interfaces(self) -> list[dict[str, Any]]:
        return _pages(self._ec2, "describe_network_interfaces", "NetworkInterfaces")

    @collected("ec2", reads=("DescribeVolumes",))
    def volumes(self) -> list[dict[str, Any]]:
        return _pages(self._ec2, "describe_volumes", "Volumes")

    @collected("ec2", reads=("DescribeInstanceCreditSpecifications",))
    def credit_specification(self, instance_id: str) -> str | None:
        """CpuCredits of a burstable instance ('standard' or 'unlimited')."""
        specs = self._ec2.describe_instance_credit_specifications(InstanceIds=[instance_id]).get(
            "InstanceCreditSpecifications", []
        )
        return specs[0].get("CpuCredits") if specs else None

    @collected(
        "ec2",
        absent=("InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"),
        reads=("DescribeImages",),
    )
    def image(self, image_id: str) -> dict[str, Any] | None:
        images = self._ec2.describe_images(ImageIds=[image_id]).get("Images", [])
        return images[0] if images else None
