"""Perform for the database (EC2 instance or Aurora cluster) and its access host."""

from __future__ import annotations

import re
from typing import Any

from checks import lookup as L
from runbook.actions.base import Action, Ctx, Manual, call, fixes, manual
from runbook.aws.inventory import Inventory
from runbook.profile import Profile

AMAZON_LINUX_2 = "amzn2-ami-hvm-*-{arch}-gp2"
GRAVITON = re.compile(r"^[a-z]+\d+g[a-z]*\.")  # t4g.nano, c6g.medium, m7gd.large: arm64


def _amazon_linux_ami(ctx: Ctx, instance_type: str) -> str:
    arch = "arm64" if GRAVITON.match(instance_type) else "x86_64"
    images = ctx.client("ec2").describe_images(
        Owners=["amazon"],
        Filters=[{"Name": "name", "Values": [AMAZON_LINUX_2.format(arch=arch)]}],
    )["Images"]
    if not images:
        raise LookupError("no Amazon Linux 2 image found in the region")
    return sorted(images, key=lambda i: i.get("CreationDate", ""))[-1]["ImageId"]


def _launch(
    ctx: Ctx,
    *,
    name: str,
    instance_type: str,
    subnet_id: str,
    groups: list[str],
    credits: bool = False,
) -> str:
    extra: dict[str, Any] = {}
    if credits and instance_type.startswith("t"):
        extra["CreditSpecification"] = {"CpuCredits": "unlimited"}
    return ctx.client("ec2").run_instances(
        ImageId=_amazon_linux_ami(ctx, instance_type),
        InstanceType=instance_type,
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet_id,
        SecurityGroupIds=groups,
        BlockDeviceMappings=[
            {
                "DeviceName": "/dev/xvda",
                "Ebs": {
                    "VolumeType": ctx.p.database.root_volume_type,
                    "VolumeSize": ctx.p.database.root_volume_size_gb,
                    "DeleteOnTermination": True,
                },
            }
        ],
        TagSpecifications=ctx.ec2_tags("instance", name),
        **extra,
    )["Instances"][0]["InstanceId"]


@fixes("database_instance_in_vpc_subnet_and_group")
def launch_database(inv: Inventory, p: Profile) -> list[Action | Manual]:
    inst = L.db_instance(inv, p)
    if inst is not None:
        return _place_database(inv, p, inst)

    def apply(ctx: Ctx) -> None:
        subnet = L.lambda_subnets(ctx.inv, p)[0]
        group = L.security_group(ctx.inv, p, "database")
        instance_id = _launch(
            ctx,
            name=p.database.instance_name,
            instance_type=p.database.instance_type,
            subnet_id=subnet["SubnetId"],
            groups=[group["GroupId"]],
            credits=True,
        )
        # Between runs the database is stopped: Step Functions starts it every hour. A pending
        # instance cannot be stopped, so wait for it to run first.
        ec2 = ctx.client("ec2")
        ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id])
        ec2.stop_instances(InstanceIds=[instance_id])

    first = L.lambda_subnets(inv, p)
    return [
        Action(
            f"launch {p.database.instance_name} ({p.database.instance_type}, Amazon Linux "
            f"2, {p.database.root_volume_size_gb} GB {p.database.root_volume_type}) in "
            "the first subnet and the database group, then stop it",
            apply,
            (
                call(
                    "ec2",
                    "RunInstances",
                    InstanceType=p.database.instance_type,
                    SubnetId=first[0]["SubnetId"] if first else "<the first subnet>",
                    Name=p.database.instance_name,
                    CpuCredits="unlimited",
                ),
                call("ec2", "StopInstances", InstanceIds=["<new instance>"]),
            ),
        )
    ]


def _place_database(inv: Inventory, p: Profile, inst: dict[str, Any]) -> list[Action | Manual]:
    """Groups can change in place; a subnet cannot."""
    steps: list[Action | Manual] = []
    group = L.security_group(inv, p, "database")
    if group is not None and L.database_groups(inv, p) != [group["GroupId"]]:

        def apply(ctx: Ctx) -> None:
            ctx.client("ec2").modify_instance_attribute(
                InstanceId=inst["InstanceId"], Groups=[group["GroupId"]]
            )

        steps.append(
            Action(
                f"put {inst['InstanceId']} in {p.security_groups.database} only",
                apply,
                (
                    call(
                        "ec2",
                        "ModifyInstanceAttribute",
                        InstanceId=inst["InstanceId"],
                        Groups=[group["GroupId"]],
                    ),
                ),
            )
        )
    ours = {s["SubnetId"] for s in (L.subnet(inv, p, x.name) for x in p.vpc.subnets) if s}
    if inst.get("SubnetId") not in ours:
        steps.append(
            Manual(
                f"{inst['InstanceId']} is in {inst.get('SubnetId')}, not one of the notifier's "
                "subnets, and an instance cannot change subnet: launch the database again in "
                f"{p.vpc.subnets[0].name} (move the data), then run perform again for the "
                "secret's mysql_host and the rule's db_instance_id"
            )
        )
    return steps


@fixes("database_burstable_instance_has_unlimited_credits")
def unlimited(inv: Inventory, p: Profile) -> list[Action | Manual]:
    inst = L.db_instance(inv, p)

    def apply(ctx: Ctx) -> None:
        ctx.client("ec2").modify_instance_credit_specification(
            InstanceCreditSpecifications=[
                {"InstanceId": inst["InstanceId"], "CpuCredits": "unlimited"}
            ]
        )

    if inst is None:
        return []
    return [
        Action(
            f"set {inst['InstanceId']} CPU credits to unlimited",
            apply,
            (
                call(
                    "ec2",
                    "ModifyInstanceCreditSpecification",
                    InstanceId=inst["InstanceId"],
                    CpuCredits="unlimited",
                ),
            ),
        )
    ]


fixes("database_root_volume_is_gp3_of_profile_size")(
    manual("modify the root EBS volume to gp3 of the profile's size (EC2 > Volumes > Modify)")
)
fixes("database_image_is_amazon_linux")(
    manual("the image cannot change in place: launch a new Amazon Linux instance and move the data")
)
fixes("database_instance_has_no_elastic_ip")(
    manual(
        "dissociate and release the Elastic IP of the database instance (perform never releases)"
    )
)


@fixes(
    "aurora_cluster_serverless_pauses_when_idle",
    "aurora_cluster_private_in_database_group_over_both_subnets",
)
def aurora(inv: Inventory, p: Profile) -> list[Action | Manual]:
    if inv.db_cluster(p.database.cluster) is not None:
        return [
            Manual(
                "modify the cluster's scaling (auto-pause on, capacity per profile), "
                "subnet group and security groups in the RDS console"
            )
        ]

    def apply(ctx: Ctx) -> None:
        rds = ctx.client("rds")
        if ctx.inv.db_subnet_group(p.database.subnet_group) is None:
            rds.create_db_subnet_group(
                DBSubnetGroupName=p.database.subnet_group,
                DBSubnetGroupDescription="notifier database subnets",
                SubnetIds=[s["SubnetId"] for s in L.lambda_subnets(ctx.inv, p)],
                Tags=ctx.tag_list(),
            )
        group = L.security_group(ctx.inv, p, "database")
        common = dict(
            DBClusterIdentifier=p.database.cluster,
            Engine="aurora-mysql",
            MasterUsername="admin",
            ManageMasterUserPassword=True,
            DBSubnetGroupName=p.database.subnet_group,
            VpcSecurityGroupIds=[group["GroupId"]],
            Tags=ctx.tag_list(),
        )
        if p.variants.database == "aurora-serverless-v1":
            rds.create_db_cluster(
                **common,
                EngineMode="serverless",
                ScalingConfiguration={
                    "MinCapacity": int(p.database.min_capacity),
                    "MaxCapacity": int(p.database.max_capacity),
                    "AutoPause": True,
                    "SecondsUntilAutoPause": 300,
                },
            )
        else:
            rds.create_db_cluster(
                **common,
                ServerlessV2ScalingConfiguration={
                    "MinCapacity": 0,
                    "MaxCapacity": p.database.max_capacity,
                },
            )
            rds.create_db_instance(
                DBInstanceIdentifier=f"{p.database.cluster}-1",
                DBClusterIdentifier=p.database.cluster,
                DBInstanceClass="db.serverless",
                Engine="aurora-mysql",
                Tags=ctx.tag_list(),
            )

    calls = []
    if inv.db_subnet_group(p.database.subnet_group) is None:
        calls.append(call("rds", "CreateDBSubnetGroup", DBSubnetGroupName=p.database.subnet_group))
    calls.append(call("rds", "CreateDBCluster", DBClusterIdentifier=p.database.cluster))
    if p.variants.database != "aurora-serverless-v1":
        calls.append(
            call("rds", "CreateDBInstance", DBInstanceIdentifier=f"{p.database.cluster}-1")
        )
    return [
        Action(
            f"create subnet group {p.database.subnet_group} and cluster "
            f"{p.database.cluster} ({p.variants.database}; the admin password is kept "
            "by RDS in Secrets Manager)",
            apply,
            tuple(calls),
        )
    ]


fixes("aurora_cluster_has_no_initial_database")(
    manual("the initial database name cannot be removed; it does no harm, or recreate the cluster")
)


@fixes("access_host_exists_in_vpc")
def access_host(inv: Inventory, p: Profile) -> list[Action | Manual]:
    if L.access_host(inv, p) is not None:
        return [Manual("move the access host into the VPC with the profile's instance type")]
    if p.variants.access_host in L.TUNNELLED:
        target = p.access_host.target_instance
        return [
            Manual(
                f"launch the instance {target} in the VPC (access_host.target_instance)"
                if target
                else "create the database instance first: it is the access host"
            )
        ]
    if p.variants.access_host == "cloud9":
        env = p.access_host.cloud9_environment

        def apply(ctx: Ctx) -> None:
            ctx.client("cloud9").create_environment_ec2(
                name=env,
                instanceType=p.access_host.cloud9_instance_type,
                subnetId=L.lambda_subnets(ctx.inv, p)[0]["SubnetId"],
                imageId="amazonlinux-2023-x86_64",
                automaticStopTimeMinutes=30,
                tags=ctx.tag_list(),
            )

        return [
            Action(
                f"create Cloud9 environment {env} ({p.access_host.cloud9_instance_type}) "
                "in the first subnet",
                apply,
                (call("cloud9", "CreateEnvironmentEC2", name=env),),
            )
        ]

    def bastion(ctx: Ctx) -> None:
        ec2 = ctx.client("ec2")
        name = f"{p.access_host.bastion_name}SecurityGroup"
        groups = [
            g
            for g in ctx.inv.security_groups()
            if g["GroupName"] == name and g["VpcId"] == L.vpc_id(ctx.inv, p)
        ]
        group_id = (
            groups[0]["GroupId"]
            if groups
            else ec2.create_security_group(
                GroupName=name,
                Description="notifier bastion",
                VpcId=L.vpc_id(ctx.inv, p),
                TagSpecifications=ctx.ec2_tags("security-group", name),
            )["GroupId"]
        )
        _launch(
            ctx,
            name=p.access_host.bastion_name,
            instance_type=p.access_host.bastion_instance_type,
            subnet_id=L.lambda_subnets(ctx.inv, p)[0]["SubnetId"],
            groups=[group_id],
        )

    name = f"{p.access_host.bastion_name}SecurityGroup"
    made = any(
        g["GroupName"] == name and g["VpcId"] == L.vpc_id(inv, p) for g in inv.security_groups()
    )
    return [
        Action(
            f"launch bastion {p.access_host.bastion_name} with its own security group",
            bastion,
            (
                *(() if made else (call("ec2", "CreateSecurityGroup", GroupName=name),)),
                call(
                    "ec2",
                    "RunInstances",
                    InstanceType=p.access_host.bastion_instance_type,
                    Name=p.access_host.bastion_name,
                ),
            ),
        )
    ]


@fixes("database_sg_admits_access_host")
def admit_access_host(inv: Inventory, p: Profile) -> list[Action | Manual]:
    host = L.access_host(inv, p)
    if host is None:
        return [Manual("create the access host first")]
    source = host["SecurityGroups"][0]["GroupId"]

    def apply(ctx: Ctx) -> None:
        group = L.security_group(ctx.inv, p, "database")
        ctx.client("ec2").authorize_security_group_ingress(
            GroupId=group["GroupId"],
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": p.database.mysql_port,
                    "ToPort": p.database.mysql_port,
                    "UserIdGroupPairs": [{"GroupId": source}],
                }
            ],
        )

    group = L.security_group(inv, p, "database")
    return [
        Action(
            f"allow inbound TCP {p.database.mysql_port} to the database group from {source}",
            apply,
            (
                call(
                    "ec2",
                    "AuthorizeSecurityGroupIngress",
                    GroupId=group["GroupId"] if group else "<the database group>",
                    IpPermissions=f"tcp {p.database.mysql_port} from {source}",
                ),
            ),
        )
    ]
