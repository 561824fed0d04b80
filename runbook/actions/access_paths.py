"""Perform for today's ways into the VPC: an EC2 Instance Connect Endpoint, or Session Manager."""

from __future__ import annotations

from typing import Any

from checks import lookup as L
from checks.access_paths import SSH, admits_ssh
from runbook.actions.base import Action, Ctx, Manual, call, ensure_role, fixes, manual
from runbook.aws.inventory import Inventory
from runbook.profile import Profile

SSM_CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"


def _host_group(inv: Inventory, p: Profile) -> str:
    host = L.access_host(inv, p)
    assert host is not None
    return str(host["SecurityGroups"][0]["GroupId"])


def _admit_ssh(ctx: Ctx, host_group: str, endpoint_group: str) -> None:
    ctx.client("ec2").authorize_security_group_ingress(
        GroupId=host_group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": SSH,
                "ToPort": SSH,
                "UserIdGroupPairs": [{"GroupId": endpoint_group}],
            }
        ],
    )


@fixes("instance_connect_endpoint_reaches_access_host")
def instance_connect_endpoint(inv: Inventory, p: Profile) -> list[Action | Manual]:
    if L.access_host(inv, p) is None:
        return [Manual("create the access host first")]
    host_group = _host_group(inv, p)
    endpoints = L.instance_connect_endpoints(inv, p)
    if not endpoints:
        return [_create_endpoint(inv, p, host_group)]
    endpoint = endpoints[0]
    eid, state = endpoint["InstanceConnectEndpointId"], endpoint.get("State")
    if state == "create-in-progress":
        return [Manual(f"wait for endpoint {eid} to be create-complete (a few minutes)")]
    subnets = {s["SubnetId"] for s in (L.subnet(inv, p, x.name) for x in p.vpc.subnets) if s}
    if state != "create-complete" or endpoint.get("PreserveClientIp"):
        why = f"is {state}" if state != "create-complete" else "preserves the client's IP"
        return [Manual(f"delete endpoint {eid} ({why}: VPC > Endpoints) and perform again")]
    if endpoint.get("SubnetId") not in subnets:
        return [
            Manual(
                f"endpoint {eid} is in none of the profile's subnets: delete it or add "
                "its subnet to vpc.subnets"
            )
        ]
    group = endpoint["SecurityGroupIds"][0]
    host = next(g for g in inv.security_groups() if g["GroupId"] == host_group)
    if admits_ssh(host, endpoint["SecurityGroupIds"]):
        return [Manual(f"endpoint {eid} should reach the access host: see the check's details")]
    return [
        Action(
            f"allow inbound TCP {SSH} to {host_group} from the endpoint's group {group}",
            lambda ctx: _admit_ssh(ctx, host_group, group),
            (
                call(
                    "ec2",
                    "AuthorizeSecurityGroupIngress",
                    GroupId=host_group,
                    IpPermissions=f"tcp {SSH} from {group}",
                ),
            ),
        )
    ]


def _create_endpoint(inv: Inventory, p: Profile, host_group: str) -> Action:
    name, endpoint = p.access_host.endpoint_security_group, p.access_host.endpoint_name
    existing = [
        g
        for g in inv.security_groups()
        if g["GroupName"] == name and g["VpcId"] == L.vpc_id(inv, p)
    ]
    subnet = L.lambda_subnets(inv, p)[0]["SubnetId"] if L.lambda_subnets(inv, p) else "<subnet>"

    def apply(ctx: Ctx) -> None:
        ec2 = ctx.client("ec2")
        group = (
            existing[0]["GroupId"]
            if existing
            else ec2.create_security_group(
                GroupName=name,
                Description="notifier EC2 Instance Connect Endpoint",
                VpcId=L.vpc_id(ctx.inv, p),
                TagSpecifications=ctx.ec2_tags("security-group", name),
            )["GroupId"]
        )
        ec2.create_instance_connect_endpoint(
            SubnetId=subnet,
            SecurityGroupIds=[group],
            PreserveClientIp=False,
            TagSpecifications=ctx.ec2_tags("instance-connect-endpoint", endpoint),
        )
        host = next(g for g in ctx.inv.security_groups() if g["GroupId"] == host_group)
        if not admits_ssh(host, [group]):  # a group kept from an endpoint deleted since
            _admit_ssh(ctx, host_group, group)

    return Action(
        f"create EC2 Instance Connect Endpoint {endpoint} in {subnet} with its own group "
        f"{name}, and allow inbound TCP {SSH} to {host_group} from that group",
        apply,
        (
            *(() if existing else (call("ec2", "CreateSecurityGroup", GroupName=name),)),
            call(
                "ec2",
                "CreateInstanceConnectEndpoint",
                SubnetId=subnet,
                SecurityGroupIds=[existing[0]["GroupId"] if existing else f"<{name}>"],
                PreserveClientIp=False,
            ),
            call(
                "ec2",
                "AuthorizeSecurityGroupIngress",
                GroupId=host_group,
                IpPermissions=f"tcp {SSH} from <{name}>",
            ),
        ),
    )


@fixes("access_host_role_allows_session_manager")
def session_manager_role(inv: Inventory, p: Profile) -> list[Action | Manual]:
    host = L.access_host(inv, p)
    if host is None:
        return [Manual("create the access host first")]
    arn = (host.get("IamInstanceProfile") or {}).get("Arn")
    if arn:  # the instance's own role: give it the managed policy Session Manager needs
        roles = (inv.instance_profile(arn.rsplit("/", 1)[-1]) or {}).get("Roles", [])
        if not roles:
            return [Manual(f"add a role to instance profile {arn} (IAM > Roles)")]
        role = roles[0]["RoleName"]

        def attach(ctx: Ctx) -> None:
            ctx.client("iam").attach_role_policy(RoleName=role, PolicyArn=SSM_CORE)

        return [
            Action(
                f"attach AmazonSSMManagedInstanceCore to {role}, the access host's role",
                attach,
                (call("iam", "AttachRolePolicy", RoleName=role, PolicyArn=SSM_CORE),),
            )
        ]
    name, instance_id = p.access_host.session_manager_role, host["InstanceId"]

    def give(ctx: Ctx) -> None:
        iam = ctx.client("iam")
        ensure_role(ctx, name, "ec2.amazonaws.com")
        iam.attach_role_policy(RoleName=name, PolicyArn=SSM_CORE)
        if ctx.inv.instance_profile(name) is None:
            iam.create_instance_profile(InstanceProfileName=name, Tags=ctx.tag_list())
        if not (ctx.inv.instance_profile(name) or {}).get("Roles"):
            iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
        ctx.client("ec2").associate_iam_instance_profile(
            IamInstanceProfile={"Name": name}, InstanceId=instance_id
        )

    return [
        Action(
            f"give {instance_id} the instance profile {name}, whose role (trusted by EC2) has "
            "AmazonSSMManagedInstanceCore",
            give,
            _profile_calls(inv, name, instance_id),
        )
    ]


def _profile_calls(inv: Inventory, name: str, instance_id: str) -> tuple[str, ...]:
    made: Any = inv.instance_profile(name)
    return (
        *(() if inv.role(name) else (call("iam", "CreateRole", RoleName=name),)),
        call("iam", "AttachRolePolicy", RoleName=name, PolicyArn=SSM_CORE),
        *(() if made else (call("iam", "CreateInstanceProfile", InstanceProfileName=name),)),
        *(
            ()
            if made and made["Roles"]
            else (call("iam", "AddRoleToInstanceProfile", InstanceProfileName=name, RoleName=name),)
        ),
        call(
            "ec2", "AssociateIamInstanceProfile", InstanceProfileName=name, InstanceId=instance_id
        ),
    )


fixes("access_host_is_online_in_session_manager")(
    manual(
        "the SSM agent comes online once the instance's role allows it and the instance "
        "reaches Systems Manager over HTTPS (a route to the internet, or VPC endpoints for ssm "
        "and ssmmessages); on the instance: sudo systemctl restart amazon-ssm-agent"
    )
)
