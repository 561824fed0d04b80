"""What AWS services and the person do in the lab, that perform cannot or must not.

On AWS, the Cloud9 service creates the environment's EC2 instance and security group, the
Lambda service creates the function's network interfaces, and the person pushes the image
with docker. moto does none of these (no Cloud9 API, no Lambda ENIs, no docker), so the lab
does them here, in the shapes AWS gives them. The checks never know.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from checks import lookup as L
from runbook.aws.inventory import Inventory
from runbook.aws.session import AwsSession
from runbook.profile import Profile

# Canaries: unique, recognisable, never expected in any output (the leak tests grep for them).
LAB_SECRET_VALUES = {
    "wikidot_password": "canary-wikidot-7f3a9c1e",
    "gmail_password": "canary-gmail-2b8d4e6f",
    "mysql_username": "notifier",
    "mysql_password": "canary-mysql-5c1e9a7b",
}


def cloud9_environment(session: AwsSession, inv: Inventory, p: Profile) -> None:
    """The instance and group Cloud9 makes for an EC2 environment, named as Cloud9 names them."""
    if L.cloud9_instance(inv, p) is not None:
        return
    ec2 = session.client("ec2")
    prefix = f"aws-cloud9-{p.access_host.cloud9_environment}-"
    # A group made by a build interrupted before the instance belongs to that environment.
    made = [
        g
        for g in inv.security_groups()
        if g["GroupName"].startswith(prefix) and g["VpcId"] == L.vpc_id(inv, p)
    ]
    if made:
        group = made[0]
        base = group["GroupName"].split("-InstanceSecurityGroup-")[0]
    else:
        base = prefix + uuid.uuid4().hex
        group = ec2.create_security_group(
            GroupName=f"{base}-InstanceSecurityGroup-{uuid.uuid4().hex[:12].upper()}",
            Description="Security group for AWS Cloud9 environment",
            VpcId=L.vpc_id(inv, p),
        )
    image = ec2.describe_images(
        Owners=["amazon"], Filters=[{"Name": "name", "Values": ["amzn2-ami-hvm-*"]}]
    )["Images"][0]["ImageId"]
    ec2.run_instances(
        ImageId=image,
        InstanceType=p.access_host.cloud9_instance_type,
        MinCount=1,
        MaxCount=1,
        SubnetId=L.lambda_subnets(inv, p)[0]["SubnetId"],
        SecurityGroupIds=[group["GroupId"]],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": base}]}],
    )


def push_image(session: AwsSession, inv: Inventory, p: Profile, *, build: str = "1") -> None:
    """``docker push`` of the notifier's image (build ``build``) to the private repository."""
    ecr = session.client("ecr")
    repo = p.redeployment.ecr_repository
    if inv.repository(repo) is None:
        ecr.create_repository(repositoryName=repo)
    if build == "1" and inv.image_digest(repo, p.redeployment.image_tag) is not None:
        return
    ecr.put_image(
        repositoryName=repo,
        imageManifest=json.dumps(image_manifest(build)),
        imageTag=p.redeployment.image_tag,
    )


def image_manifest(build: str) -> dict[str, Any]:
    """A docker manifest whose digests depend on the build (moto derives the image's from them)."""
    config = json.dumps({"lab": "notifier execute_lambda", "build": build}).encode()
    layer = f"notifier build {build}".encode()
    return {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": len(config),
            "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": len(layer),
                "digest": "sha256:" + hashlib.sha256(layer).hexdigest(),
            }
        ],
    }


def lambda_enis(session: AwsSession, inv: Inventory, p: Profile) -> None:
    """One interface per subnet of the function's VpcConfig, as the Lambda service creates."""
    fn = L.function_config(inv, p)
    vpc_cfg = (fn or {}).get("VpcConfig") or {}
    existing = {e["SubnetId"] for e in L.lambda_enis(inv, p.function.function)}
    for subnet_id in vpc_cfg.get("SubnetIds", []):
        if subnet_id in existing:
            continue
        session.client("ec2").create_network_interface(
            SubnetId=subnet_id,
            Groups=vpc_cfg.get("SecurityGroupIds", []),
            Description=f"AWS Lambda VPC ENI-{p.function.function}-{uuid.uuid4()}",
        )


def nat_instance(session: AwsSession, inv: Inventory, p: Profile) -> None:
    """The guide's 'host your own NAT instance', done by hand: an instance in the public subnet
    with the source/destination check off, and the Lambda subnets routed through it."""
    from runbook.actions.base import Ctx
    from runbook.actions.network import route_default_to

    if L.instance_named(inv, p.egress.nat_instance_name) is None:
        ec2 = session.client("ec2")
        public = next(s for s in p.vpc.subnets if s.role == "public")
        image = ec2.describe_images(
            Owners=["amazon"], Filters=[{"Name": "name", "Values": ["amzn2-ami-hvm-*"]}]
        )["Images"][0]["ImageId"]
        instance = ec2.run_instances(
            ImageId=image,
            InstanceType="t3a.nano",
            MinCount=1,
            MaxCount=1,
            SubnetId=L.subnet(inv, p, public.name)["SubnetId"],
            SecurityGroupIds=[L.security_group(inv, p, "internet")["GroupId"]],
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": "Name", "Value": p.egress.nat_instance_name}],
                }
            ],
        )["Instances"][0]["InstanceId"]
        ec2.modify_instance_attribute(InstanceId=instance, SourceDestCheck={"Value": False})
        inv.invalidate()
    nat = L.instance_named(inv, p.egress.nat_instance_name)
    nat_id = nat["InstanceId"]
    if nat.get("SourceDestCheck", True):  # a build interrupted before the attribute was set
        session.client("ec2").modify_instance_attribute(
            InstanceId=nat_id, SourceDestCheck={"Value": False}
        )
    for subnet in p.vpc.lambda_subnets:
        route_default_to(subnet.name, "InstanceId", nat_id)(Ctx(session, inv, p))
        inv.invalidate()


def database_stopped(session: AwsSession, inv: Inventory, p: Profile) -> None:
    """The end of every hourly Step Functions run, which the lab never runs: the database
    instance stopped, e.g. when a build was killed while its checks had the database started."""
    inst = None if p.variants.aurora else L.db_instance(inv, p)
    if inst is None or inst["State"]["Name"] not in ("pending", "running"):
        return
    ec2 = session.client("ec2")
    ec2.get_waiter("instance_running").wait(InstanceIds=[inst["InstanceId"]])  # pending: wait
    ec2.stop_instances(InstanceIds=[inst["InstanceId"]])


def secret_environment() -> dict[str, Any]:
    """The RUNBOOK_SECRET_* values perform reads to create the lab's secret."""
    return {f"RUNBOOK_SECRET_{k.upper()}": v for k, v in LAB_SECRET_VALUES.items()}
