"""The lab's EC2 Instance Connect Endpoints and Session Manager agents, which moto lacks.

moto has no ``CreateInstanceConnectEndpoint``/``DescribeInstanceConnectEndpoints``/
``DeleteInstanceConnectEndpoint`` and no ``ssm:DescribeInstanceInformation``. The lab answers
them in AWS's shapes:

- An endpoint is kept on moto's EC2 backend of its account and region. It is create-complete
  at once (AWS takes minutes), its security groups are the VPC's default group when none is
  given (as AWS does), and a deleted endpoint stays listed as ``delete-complete`` for a while,
  as AWS lists it.
- Session Manager lists an instance as AWS would once its agent registered: the agent runs on
  every instance of the lab, and registers only with an instance profile whose role IAM lets
  call ``ssm:UpdateInstanceInformation`` (judged by the lab's own IAM evaluator). A running
  instance is ``Online``; a stopped one ``ConnectionLost``.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from runbook.lab.iam_simulation import setattr_once, simulate

GONE = ("delete-in-progress", "delete-complete")


def _endpoints(backend: Any) -> dict[str, dict[str, Any]]:
    if not hasattr(backend, "lab_instance_connect_endpoints"):
        backend.lab_instance_connect_endpoints = {}
    return backend.lab_instance_connect_endpoints  # type: ignore[no-any-return]


def _tags(specifications: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [
        t
        for s in specifications or []
        if s.get("ResourceType") == "instance-connect-endpoint"
        for t in s.get("Tags", [])
    ]


def patch_instance_connect_endpoints() -> None:
    """Give moto's EC2 the three Instance Connect Endpoint actions."""
    from moto.core.responses import ActionResult
    from moto.ec2.responses import EC2Response

    def create_instance_connect_endpoint(self: Any) -> ActionResult:
        backend = self.ec2_backend
        subnet = backend.get_subnet(self._get_param("SubnetId"))
        groups = self._get_param("SecurityGroupIds", []) or [
            backend.get_default_security_group(subnet.vpc_id).id
        ]
        backend.describe_security_groups(group_ids=groups)  # InvalidGroup.NotFound as AWS
        self.error_on_dryrun()
        endpoint_id = f"eice-{uuid.uuid4().hex[:17]}"
        endpoint = {
            "OwnerId": self.current_account,
            "InstanceConnectEndpointId": endpoint_id,
            "InstanceConnectEndpointArn": f"arn:aws:ec2:{self.region}:{self.current_account}:"
            f"instance-connect-endpoint/{endpoint_id}",
            "State": "create-complete",
            "StateMessage": "",
            "DnsName": f"{endpoint_id}.{uuid.uuid4().hex[:8]}.ec2-instance-connect-endpoint."
            f"{self.region}.amazonaws.com",
            "NetworkInterfaceIds": [],
            "VpcId": subnet.vpc_id,
            "AvailabilityZone": subnet.availability_zone,
            "CreatedAt": datetime.datetime.now(datetime.UTC),
            "SubnetId": subnet.id,
            "PreserveClientIp": bool(self._get_param("PreserveClientIp", False)),
            "SecurityGroupIds": groups,
            "Tags": _tags(self._get_param("TagSpecifications", [])),
        }
        _endpoints(backend)[endpoint_id] = endpoint
        return ActionResult({"InstanceConnectEndpoint": endpoint, "ClientToken": ""})

    def describe_instance_connect_endpoints(self: Any) -> ActionResult:
        wanted = self._get_param("InstanceConnectEndpointIds", [])
        found = [
            e
            for e in _endpoints(self.ec2_backend).values()
            if not wanted or e["InstanceConnectEndpointId"] in wanted
        ]
        return ActionResult({"InstanceConnectEndpoints": found})

    def delete_instance_connect_endpoint(self: Any) -> ActionResult:
        endpoint = _endpoints(self.ec2_backend)[self._get_param("InstanceConnectEndpointId")]
        self.error_on_dryrun()
        endpoint["State"] = "delete-complete"
        return ActionResult({"InstanceConnectEndpoint": endpoint})

    for method in (
        create_instance_connect_endpoint,
        describe_instance_connect_endpoints,
        delete_instance_connect_endpoint,
    ):
        setattr_once(EC2Response, method.__name__, method)


def _registered_role(iam: Any, association: Any) -> str | None:
    """The role the agent registers with, or None when it cannot register."""
    if association is None:
        return None
    for role in association.iam_instance_profile.roles:
        results = simulate(iam, role.arn, ["ssm:UpdateInstanceInformation"], ["*"])
        if next(results)["EvalDecision"] == "allowed":
            return str(role.arn)
    return None


def patch_session_manager_agents() -> None:
    """Give moto's SSM ``DescribeInstanceInformation``, from the instances moto has."""
    from moto.core.responses import ActionResult
    from moto.ec2.models import ec2_backends
    from moto.iam.models import iam_backends
    from moto.ssm.exceptions import ValidationException
    from moto.ssm.responses import SimpleSystemManagerResponse

    def describe_instance_information(self: Any) -> ActionResult:
        ids: list[str] | None = None
        for spec in self._get_param("Filters", []) or []:
            if spec.get("Key") != "InstanceIds":
                raise ValidationException(f"the lab answers only the InstanceIds filter: {spec}")
            ids = list(spec.get("Values", []))
        ec2 = ec2_backends[self.current_account][self.region]
        iam = iam_backends[self.current_account][self.partition]
        found = []
        for instance in ec2.all_instances():
            state = instance.state
            if state in ("terminated", "shutting-down") or (
                ids is not None and instance.id not in ids
            ):
                continue
            association = ec2.iam_instance_profile_associations.get(instance.id)
            if _registered_role(iam, association) is None:
                continue
            found.append(
                {
                    "InstanceId": instance.id,
                    "PingStatus": "Online" if state == "running" else "ConnectionLost",
                    "LastPingDateTime": datetime.datetime.now(datetime.UTC),
                    "AgentVersion": "3.3.1142.0",
                    "IsLatestVersion": True,
                    "PlatformType": "Linux",
                    "PlatformName": "Amazon Linux",
                    "ResourceType": "EC2Instance",
                    "IPAddress": instance.private_ip,
                    "ComputerName": f"ip-{instance.private_ip.replace('.', '-')}",
                    "SourceId": instance.id,
                    "SourceType": "AWS::EC2::Instance",
                }
            )
        return ActionResult({"InstanceInformationList": found})

    setattr_once(
        SimpleSystemManagerResponse, "describe_instance_information", describe_instance_information
    )
