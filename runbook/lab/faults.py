"""The fault catalogue: each fault breaks a healthy lab in one way and names what must fail.

A fault is a small function over a writable session. ``breaks`` is the exact set of checks
that must fail on the broken lab (every other check keeps its verdict); an empty set marks
a shape the console produces that is still correct and must pass. Faults include shapes
the lab builder never makes, since real deployments are built by hand.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from checks import lookup as L
from runbook.aws.inventory import Inventory
from runbook.aws.session import AwsSession
from runbook.findings import Finding, Status
from runbook.lab import world
from runbook.lab.host_faults import ACCESS as HOST_ACCESS
from runbook.profile import Profile
from runbook.stepfunctions.template import guide_definition


@dataclass(frozen=True)
class World:
    session: AwsSession
    inv: Inventory
    p: Profile

    def __post_init__(self) -> None:
        # The lab's own hand: breaking a healthy lab deletes, detaches and releases, which the
        # guard refuses to any other writable session (perform never deletes).
        self.session.may_delete = True

    def client(self, service: str) -> Any:
        return self.session.client(service)

    def group_id(self, role: str) -> str:
        return L.security_group(self.inv, self.p, role)["GroupId"]

    def db(self) -> dict[str, Any]:
        return L.db_instance(self.inv, self.p)

    def secret(self) -> dict[str, Any]:
        sm = self.client("secretsmanager")
        return json.loads(sm.get_secret_value(SecretId=self.p.secret.name)["SecretString"])

    def put_secret(self, value: dict[str, Any]) -> None:
        self.client("secretsmanager").put_secret_value(
            SecretId=self.p.secret.name, SecretString=json.dumps(value)
        )

    def machine(self) -> dict[str, Any]:
        return self.inv.state_machine(self.p.step_functions.state_machine)

    def set_definition(self, definition: dict[str, Any]) -> None:
        self.client("stepfunctions").update_state_machine(
            stateMachineArn=self.machine()["stateMachineArn"], definition=json.dumps(definition)
        )

    def guide_flow(self) -> dict[str, Any]:
        fn = L.function_config(self.inv, self.p)
        return guide_definition(fn["FunctionArn"], max_tries=self.p.step_functions.max_tries)

    def target(self) -> dict[str, Any]:
        return self.inv.rule_targets(self.p.trigger.rule)[0]

    def put_target(self, **changes: Any) -> None:
        target = {**self.target(), **changes}
        self.client("events").put_targets(Rule=self.p.trigger.rule, Targets=[target])

    def function_arn(self) -> str:
        return L.function_config(self.inv, self.p)["FunctionArn"]

    def acl_entry(
        self, subnet: dict[str, Any], *, egress: bool, deny: bool, cidr: str, port: int
    ) -> None:
        """Give the subnet a network ACL of its own, as a person does in the console (allow
        everything at 100, both ways), with one more entry at 50 for ``port``."""
        ec2 = self.client("ec2")
        current = ec2.describe_network_acls(
            Filters=[{"Name": "association.subnet-id", "Values": [subnet["SubnetId"]]}]
        )["NetworkAcls"][0]
        association = next(
            x for x in current["Associations"] if x.get("SubnetId") == subnet["SubnetId"]
        )
        acl = ec2.create_network_acl(VpcId=subnet["VpcId"])["NetworkAcl"]["NetworkAclId"]
        for way in (True, False):
            ec2.create_network_acl_entry(
                NetworkAclId=acl,
                RuleNumber=100,
                Protocol="-1",
                RuleAction="allow",
                Egress=way,
                CidrBlock="0.0.0.0/0",
            )
        ec2.create_network_acl_entry(
            NetworkAclId=acl,
            RuleNumber=50,
            Protocol="6",
            RuleAction="deny" if deny else "allow",
            Egress=egress,
            CidrBlock=cidr,
            PortRange={"From": port, "To": port},
        )
        ec2.replace_network_acl_association(
            AssociationId=association["NetworkAclAssociationId"], NetworkAclId=acl
        )


@dataclass(frozen=True)
class Fault:
    name: str
    breaks: frozenset[str]
    apply: Callable[[World], None]
    doc: str
    profile: str  # the profile (profiles/<name>.toml) whose lab the fault breaks
    # Checks the fault leaves uncheckable (could not check), e.g. a host that is gone.
    errors: frozenset[str] = frozenset()
    # Checks that must keep passing but gain an advisory (hardening beyond the guide).
    advises: frozenset[str] = frozenset()
    # Perform cannot undo it (it would delete, or the fix is the user's): its plan says what to do.
    manual: bool = False


FAULTS: dict[str, Fault] = {}
Breaker = Callable[[World], None]


def fault(
    *breaks: str,
    profile: str = "lab",
    errors: frozenset[str] = frozenset(),
    advises: frozenset[str] = frozenset(),
    manual: bool = False,
) -> Callable[[Breaker], Breaker]:
    def register(fn: Breaker) -> Breaker:
        doc = (fn.__doc__ or "").strip()
        FAULTS[fn.__name__] = Fault(
            fn.__name__, frozenset(breaks), fn, doc, profile, errors, advises, manual
        )
        return fn

    return register


@dataclass(frozen=True)
class Judged:
    """What a verify after a fault showed, against what the fault says it must show."""

    failing: frozenset[str]  # every check that fails
    changed: dict[str, str]  # checks outside ``breaks`` whose status changed, and to what
    advised: frozenset[str]  # checks of ``advises`` that carry an advisory

    def caught(self, fault: Fault) -> bool:
        """The fault is seen: one of its checks fails (or, for a correct shape that must pass,
        nothing fails and the advisories it must raise are there)."""
        if fault.breaks:
            return bool(self.failing & fault.breaks)
        return not self.failing and self.advised == fault.advises

    def exact(self, fault: Fault) -> bool:
        """Exactly its checks fail, nothing else changes, every advisory it must raise is there."""
        return (
            self.failing == fault.breaks
            and self.changed == dict.fromkeys(sorted(fault.errors), "error")
            and self.advised == fault.advises
        )


def judge(fault: Fault, baseline: dict[str, Finding], after: dict[str, Finding]) -> Judged:
    return Judged(
        failing=frozenset(c for c, f in after.items() if f.status == Status.FAIL),
        changed={
            c: str(f.status)
            for c, f in sorted(after.items())
            if c not in fault.breaks and f.status != baseline[c].status
        },
        advised=frozenset(c for c in fault.advises if after[c].advisories),
    )


TCP = {"IpProtocol": "tcp"}
ALLOW_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def _tcp(port: int, to: int | None = None, **peer: Any) -> dict[str, Any]:
    return {**TCP, "FromPort": port, "ToPort": to or port, **peer}


# -- Estimated costs ------------------------------------------------------------------------


@fault(
    "vpc_has_no_nat_gateway_unless_nat_variant", "monthly_cost_estimate_within_budget", manual=True
)
def nat_gateway_left_running(w: World) -> None:
    """A NAT gateway in the VPC (~$37.50/month) blows the budget too."""
    ec2 = w.client("ec2")
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    subnet = L.lambda_subnets(w.inv, w.p)[0]["SubnetId"]
    ec2.create_nat_gateway(SubnetId=subnet, AllocationId=allocation)


@fault("region_has_no_idle_elastic_ip", manual=True)
def idle_elastic_ip(w: World) -> None:
    """An Elastic IP allocated and never associated."""
    w.client("ec2").allocate_address(Domain="vpc")


@fault("database_capacity_allowed_by_profile", manual=True)
def database_instance_too_big(w: World) -> None:
    """The stopped database resized to an instance type the profile does not allow."""
    w.client("ec2").modify_instance_attribute(
        InstanceId=w.db()["InstanceId"], InstanceType={"Value": "m5.large"}
    )


# -- IAM ------------------------------------------------------------------------------------


@fault("iam_group_has_exactly_guide_policies")
def group_policy_missing(w: World) -> None:
    """AmazonEC2FullAccess detached from the administration group."""
    w.client("iam").detach_group_policy(
        GroupName=w.p.iam.group, PolicyArn="arn:aws:iam::aws:policy/AmazonEC2FullAccess"
    )


@fault("iam_group_has_exactly_guide_policies", manual=True)
def group_policy_extra(w: World) -> None:
    """AdministratorAccess attached to the group on top of the guide's list."""
    w.client("iam").attach_group_policy(
        GroupName=w.p.iam.group, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"
    )


@fault("iam_user_in_group_with_console_password")
def user_without_console_password(w: World) -> None:
    """The user's login profile deleted: no console sign-in."""
    w.client("iam").delete_login_profile(UserName=w.p.iam.user)


@fault("iam_user_in_group_with_console_password")
def user_outside_group(w: World) -> None:
    """The user removed from the administration group."""
    w.client("iam").remove_user_from_group(GroupName=w.p.iam.group, UserName=w.p.iam.user)


@fault("iam_user_in_group_with_console_password", manual=True)
def user_in_a_second_group(w: World) -> None:
    """The user also in another group, which grants more than the guide's list."""
    iam = w.client("iam")
    iam.create_group(GroupName="Developers")
    iam.add_user_to_group(GroupName="Developers", UserName=w.p.iam.user)


@fault("iam_user_has_no_policies_of_its_own", manual=True)
def administrator_access_on_the_user(w: World) -> None:
    """AdministratorAccess attached to the administration user directly, beside its group."""
    w.client("iam").attach_user_policy(
        UserName=w.p.iam.user, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"
    )


@fault("iam_group_has_exactly_guide_policies", manual=True)
def group_with_an_inline_policy(w: World) -> None:
    """An inline policy on the administration group: not one of the guide's."""
    w.client("iam").put_group_policy(
        GroupName=w.p.iam.group,
        PolicyName="everything",
        PolicyDocument=json.dumps(ALLOW_ALL),
    )


# -- VPC ------------------------------------------------------------------------------------


@fault("vpc_exists_with_profile_cidr", manual=True)
def vpc_with_ipv6_block(w: World) -> None:
    """An Amazon-provided IPv6 block added to the VPC (the guide: don't)."""
    w.client("ec2").associate_vpc_cidr_block(
        VpcId=L.vpc_id(w.inv, w.p), AmazonProvidedIpv6CidrBlock=True
    )


@fault("public_subnets_route_to_internet_gateway")
def subnet_default_route_removed(w: World) -> None:
    """Public subnet 2's default route deleted: it is private again."""
    subnet = L.subnet(w.inv, w.p, w.p.vpc.subnets[1].name)
    table = L.route_table_of(w.inv, subnet)
    w.client("ec2").delete_route(
        RouteTableId=table["RouteTableId"], DestinationCidrBlock="0.0.0.0/0"
    )


@fault("internet_gateway_attached_to_vpc", "public_subnets_route_to_internet_gateway")
def internet_gateway_detached(w: World) -> None:
    """The internet gateway detached from the VPC."""
    igw = L.attached_igw(w.inv, w.p)
    w.client("ec2").detach_internet_gateway(
        InternetGatewayId=igw["InternetGatewayId"], VpcId=L.vpc_id(w.inv, w.p)
    )


@fault()
def subnet_routes_through_main_table(w: World) -> None:
    """Console shape: Public subnet 2 has no table of its own and the main table routes to the
    internet gateway. Must pass."""
    ec2 = w.client("ec2")
    subnet = L.subnet(w.inv, w.p, w.p.vpc.subnets[1].name)
    table = L.route_table_of(w.inv, subnet)
    assoc = next(a for a in table["Associations"] if a.get("SubnetId") == subnet["SubnetId"])
    ec2.disassociate_route_table(AssociationId=assoc["RouteTableAssociationId"])
    main = next(
        t
        for t in w.inv.route_tables()
        if t["VpcId"] == subnet["VpcId"] and any(a.get("Main") for a in t.get("Associations", []))
    )
    igw = L.attached_igw(w.inv, w.p)["InternetGatewayId"]
    ec2.create_route(
        RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", GatewayId=igw
    )


@fault("public_subnets_route_to_internet_gateway", manual=True)
def route_diverts_half_the_internet(w: World) -> None:
    """Public subnet 2's table sends 0.0.0.0/1 to an instance: the longest prefix wins, so half
    the internet no longer goes to the internet gateway though the default route does."""
    subnet = L.subnet(w.inv, w.p, w.p.vpc.subnets[1].name)
    table = L.route_table_of(w.inv, subnet)
    w.client("ec2").create_route(
        RouteTableId=table["RouteTableId"],
        DestinationCidrBlock="0.0.0.0/1",
        InstanceId=L.access_host(w.inv, w.p)["InstanceId"],
    )


# -- Security groups ------------------------------------------------------------------------


@fault("database_sg_admits_only_mysql_from_itself_and_access_host")
def database_group_self_rule_removed(w: World) -> None:
    """The database group's inbound MySQL rule from itself revoked."""
    gid = w.group_id("database")
    w.client("ec2").revoke_security_group_ingress(
        GroupId=gid, IpPermissions=[_tcp(3306, UserIdGroupPairs=[{"GroupId": gid}])]
    )


@fault("database_sg_admits_only_mysql_from_itself_and_access_host")
def database_group_self_rule_as_wide_range(w: World) -> None:
    """The self rule given as TCP 3000-4000: it contains 3306, and 999 ports the guide does not
    open."""
    gid = w.group_id("database")
    ec2 = w.client("ec2")
    ec2.revoke_security_group_ingress(
        GroupId=gid, IpPermissions=[_tcp(3306, UserIdGroupPairs=[{"GroupId": gid}])]
    )
    ec2.authorize_security_group_ingress(
        GroupId=gid, IpPermissions=[_tcp(3000, 4000, UserIdGroupPairs=[{"GroupId": gid}])]
    )


@fault("database_sg_egress_all_and_mysql_to_itself")
def database_group_default_egress_removed(w: World) -> None:
    """The database group's default all-traffic outbound rule revoked."""
    w.client("ec2").revoke_security_group_egress(
        GroupId=w.group_id("database"),
        IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )


@fault(advises=frozenset({"internet_sg_admits_only_http_https"}))
def internet_group_https_ingress_removed(w: World) -> None:
    """Hardening: the internet group's inbound HTTPS rule revoked (Lambda needs none). Must
    pass, the advisory still naming the HTTP rule left."""
    w.client("ec2").revoke_security_group_ingress(
        GroupId=w.group_id("internet"),
        IpPermissions=[_tcp(443, IpRanges=[{"CidrIp": "0.0.0.0/0"}])],
    )


@fault("internet_sg_sends_only_http_https")
def internet_group_default_egress_restored(w: World) -> None:
    """The default all-traffic outbound rule left on the internet group."""
    w.client("ec2").authorize_security_group_egress(
        GroupId=w.group_id("internet"),
        IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )


@fault("internet_sg_sends_only_http_https")
def internet_group_http_egress_also_ipv6(w: World) -> None:
    """HTTP egress also to ::/0: AWS keeps it as one rule with both peers."""
    w.client("ec2").authorize_security_group_egress(
        GroupId=w.group_id("internet"), IpPermissions=[_tcp(80, Ipv6Ranges=[{"CidrIpv6": "::/0"}])]
    )


@fault()
def similar_security_group_names(w: World) -> None:
    """Another group called like the database group with a suffix. Must pass."""
    w.client("ec2").create_security_group(
        GroupName=w.p.security_groups.database + "-old",
        Description="similar name",
        VpcId=L.vpc_id(w.inv, w.p),
    )


@fault(
    "database_sg_admits_only_mysql_from_itself_and_access_host",
    "no_security_group_admits_internet_to_database_or_lambda",
)
def database_group_open_to_the_world(w: World) -> None:
    """MySQL open to the internet: TCP 3306 from 0.0.0.0/0 on the database group."""
    w.client("ec2").authorize_security_group_ingress(
        GroupId=w.group_id("database"),
        IpPermissions=[_tcp(3306, IpRanges=[{"CidrIp": "0.0.0.0/0"}])],
    )


@fault("database_sg_admits_only_mysql_from_itself_and_access_host")
def database_group_admits_another_group(w: World) -> None:
    """MySQL also from the VPC's default security group (every instance launched without a
    group is in it)."""
    default = next(
        g["GroupId"]
        for g in w.inv.security_groups()
        if g["GroupName"] == "default" and g["VpcId"] == L.vpc_id(w.inv, w.p)
    )
    w.client("ec2").authorize_security_group_ingress(
        GroupId=w.group_id("database"),
        IpPermissions=[_tcp(3306, UserIdGroupPairs=[{"GroupId": default}])],
    )


@fault(
    "internet_sg_admits_only_http_https",
    "no_security_group_admits_internet_to_database_or_lambda",
)
def internet_group_admits_ssh_from_anywhere(w: World) -> None:
    """SSH from 0.0.0.0/0 on the internet group, which the Lambda's interfaces carry."""
    w.client("ec2").authorize_security_group_ingress(
        GroupId=w.group_id("internet"), IpPermissions=[_tcp(22, IpRanges=[{"CidrIp": "0.0.0.0/0"}])]
    )


# -- Database (EC2) -------------------------------------------------------------------------


@fault("database_burstable_instance_has_unlimited_credits")
def database_standard_credits(w: World) -> None:
    """The t3 database left in standard (throttled) CPU-credit mode."""
    w.client("ec2").modify_instance_credit_specification(
        InstanceCreditSpecifications=[
            {"InstanceId": w.db()["InstanceId"], "CpuCredits": "standard"}
        ]
    )


@fault("database_instance_has_no_elastic_ip", manual=True)
def database_keeps_temporary_elastic_ip(w: World) -> None:
    """The Elastic IP used to download MySQL still associated with the database."""
    ec2 = w.client("ec2")
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.associate_address(AllocationId=allocation, InstanceId=w.db()["InstanceId"])


@fault(
    "database_instance_in_vpc_subnet_and_group",
    "no_security_group_admits_internet_to_database_or_lambda",
)
def database_outside_database_group(w: World) -> None:
    """The database instance moved to the internet group only: it now takes HTTP and HTTPS
    from the internet."""
    w.client("ec2").modify_instance_attribute(
        InstanceId=w.db()["InstanceId"], Groups=[w.group_id("internet")]
    )


@fault("database_instance_in_vpc_subnet_and_group", manual=True)
def database_in_a_third_subnet(w: World) -> None:
    """The database launched (as a person would, with plain calls) in a third subnet of the VPC,
    and everything that names it pointed at it: the rule's input, the secret, the role."""
    ec2 = w.client("ec2")
    old = w.db()
    vpc = L.vpc(w.inv, w.p)
    zone = L.lambda_subnets(w.inv, w.p)[0]["AvailabilityZone"]
    subnet = ec2.create_subnet(
        VpcId=vpc["VpcId"],
        CidrBlock="10.0.9.0/24",
        AvailabilityZone=zone,
        TagSpecifications=[
            {"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": "Private"}]}
        ],
    )["Subnet"]["SubnetId"]
    new = ec2.run_instances(
        ImageId=old["ImageId"],
        InstanceType=old["InstanceType"],
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet,
        SecurityGroupIds=[g["GroupId"] for g in old["SecurityGroups"]],
        CreditSpecification={"CpuCredits": "unlimited"},
        BlockDeviceMappings=[
            {
                "DeviceName": "/dev/xvda",
                "Ebs": {
                    "VolumeType": w.p.database.root_volume_type,
                    "VolumeSize": w.p.database.root_volume_size_gb,
                },
            }
        ],
        TagSpecifications=[{"ResourceType": "instance", "Tags": old["Tags"]}],
    )["Instances"][0]
    ec2.get_waiter("instance_running").wait(InstanceIds=[new["InstanceId"]])
    ec2.stop_instances(InstanceIds=[new["InstanceId"]])
    ec2.terminate_instances(InstanceIds=[old["InstanceId"]])
    data = json.loads(w.target()["Input"])
    w.put_target(Input=json.dumps({**data, "db_instance_id": new["InstanceId"]}))
    w.put_secret({**w.secret(), "mysql_host": new["PrivateIpAddress"]})
    iam, role = w.client("iam"), w.machine()["roleArn"].rsplit("/", 1)[-1]
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        doc = json.dumps(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
        iam.put_role_policy(
            RoleName=role,
            PolicyName=name,
            PolicyDocument=doc.replace(old["InstanceId"], new["InstanceId"]),
        )


@fault("database_root_volume_is_gp3_of_profile_size", manual=True)
def database_volume_gp2(w: World) -> None:
    """The database's root volume changed to gp2."""
    inst = w.db()
    volume = inst["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    w.client("ec2").modify_volume(VolumeId=volume, VolumeType="gp2")


# -- Accessing the database -----------------------------------------------------------------


@fault("database_sg_admits_access_host")
def access_host_rule_removed(w: World) -> None:
    """The database group no longer admits the Cloud9 group."""
    host = L.access_host(w.inv, w.p)
    source = host["SecurityGroups"][0]["GroupId"]
    w.client("ec2").revoke_security_group_ingress(
        GroupId=w.group_id("database"),
        IpPermissions=[_tcp(3306, UserIdGroupPairs=[{"GroupId": source}])],
    )


@fault(
    "access_host_exists_in_vpc", "database_sg_admits_access_host", errors=HOST_ACCESS, manual=True
)
def access_host_terminated(w: World) -> None:
    """The Cloud9 environment's instance terminated."""
    host = L.access_host(w.inv, w.p)
    w.client("ec2").terminate_instances(InstanceIds=[host["InstanceId"]])


@fault("network_acls_let_mysql_reach_the_database", manual=True)
def database_subnet_acl_refuses_the_lambda(w: World) -> None:
    """The database subnet's network ACL denies MySQL from the second Lambda subnet."""
    subnet = next(s for s in w.inv.subnets() if s["SubnetId"] == w.db()["SubnetId"])
    other = L.subnet(w.inv, w.p, w.p.vpc.lambda_subnets[1].name)
    w.acl_entry(subnet, egress=False, deny=True, cidr=other["CidrBlock"], port=3306)


# -- Secrets --------------------------------------------------------------------------------


@fault("secret_holds_exactly_the_five_keys", manual=True)
def secret_with_extra_key(w: World) -> None:
    """A sixth key in the secret."""
    w.put_secret({**w.secret(), "mysql_port": "3306"})


@fault("secret_holds_exactly_the_five_keys", manual=True)
def secret_with_empty_password(w: World) -> None:
    """gmail_password left empty."""
    w.put_secret({**w.secret(), "gmail_password": ""})


@fault("secret_mysql_host_is_the_database")
def secret_points_elsewhere(w: World) -> None:
    """mysql_host names another address (the old Aurora endpoint)."""
    w.put_secret(
        {**w.secret(), "mysql_host": "wikidotnotifierbdcluster.cluster-x.rds.amazonaws.com"}
    )


@fault("secret_resource_policy_admits_only_the_account", manual=True)
def secret_shared_with_another_account(w: World) -> None:
    """A resource policy on the secret lets another account read it."""
    w.client("secretsmanager").put_resource_policy(
        SecretId=w.p.secret.name,
        ResourcePolicy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
                        "Action": "secretsmanager:GetSecretValue",
                        "Resource": "*",
                    }
                ],
            }
        ),
    )


# -- Lambda ---------------------------------------------------------------------------------


@fault("function_timeout_and_memory_match_profile", "function_duration_below_timeout_with_headroom")
def function_default_timeout(w: World) -> None:
    """The function's timeout left at Lambda's default 3 s."""
    w.client("lambda").update_function_configuration(FunctionName=w.p.function.function, Timeout=3)


@fault("function_timeout_and_memory_match_profile")
def function_memory_too_small(w: World) -> None:
    """The function's memory at 128 MB instead of the profile's."""
    w.client("lambda").update_function_configuration(
        FunctionName=w.p.function.function, MemorySize=128
    )


@fault("function_concurrency_one_without_async_retries")
def function_unreserved_concurrency(w: World) -> None:
    """Reserved concurrency removed: several notifiers may run at once."""
    w.client("lambda").delete_function_concurrency(FunctionName=w.p.function.function)


@fault("function_concurrency_one_without_async_retries")
def function_async_retries(w: World) -> None:
    """Asynchronous invocations retried twice (Lambda's default)."""
    w.client("lambda").put_function_event_invoke_config(
        FunctionName=w.p.function.function, MaximumRetryAttempts=2
    )


@fault("function_invoked_only_by_its_runner", manual=True)
def failure_destination_invokes_the_function(w: World) -> None:
    """An on-failure destination that invokes the function again: a retry by another name."""
    w.client("lambda").update_function_event_invoke_config(
        FunctionName=w.p.function.function,
        DestinationConfig={"OnFailure": {"Destination": w.function_arn()}},
    )


@fault("function_invoked_only_by_its_runner", manual=True)
def function_url_without_auth(w: World) -> None:
    """A function URL anyone may call (AuthType NONE)."""
    w.client("lambda").create_function_url_config(
        FunctionName=w.p.function.function, AuthType="NONE"
    )


# -- Step Functions -------------------------------------------------------------------------


@fault()
def state_machine_renamed_states(w: World) -> None:
    """Every state renamed, structure and resources unchanged. Must pass."""
    flow = w.guide_flow()
    names = {name: f"step {i}" for i, name in enumerate(flow["States"])}

    def renamed(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: names.get(v, v) if k in ("Next", "Default") else renamed(v)
                for k, v in node.items()
            }
        return [renamed(x) for x in node] if isinstance(node, list) else node

    w.set_definition(
        {
            "StartAt": names[flow["StartAt"]],
            "States": {names[k]: renamed(v) for k, v in flow["States"].items()},
        }
    )


@fault("state_machine_every_path_stops_database", "state_machine_runs_leave_database_stopped")
def state_machine_failure_skips_stop(w: World) -> None:
    """The guide's names, but the notifier's failure goes straight to Fail: the database
    stays running when the Lambda fails."""
    flow = w.guide_flow()
    for catch in flow["States"]["Notify"]["Catch"]:
        catch["Next"] = "Fail"
    w.set_definition(flow)


@fault(
    "state_machine_invokes_notifier_with_start_time", "state_machine_runs_leave_database_stopped"
)
def state_machine_without_start_time(w: World) -> None:
    """The Lambda payload lacks force_current_time."""
    flow = w.guide_flow()
    del flow["States"]["Notify"]["Parameters"]["Payload"]["force_current_time.$"]
    w.set_definition(flow)


@fault("state_machine_waiting_loop_bounded", "state_machine_runs_leave_database_stopped")
def state_machine_unbounded_wait(w: World) -> None:
    """The loop counter's exit removed: waits forever for an instance that never runs."""
    flow = w.guide_flow()
    exceeded = next(
        n
        for n, s in flow["States"].items()
        if s["Type"] == "Choice" and n != "Is database running?"
    )
    flow["States"][exceeded] = {"Type": "Pass", "Next": flow["States"][exceeded]["Default"]}
    w.set_definition(flow)


@fault("state_machine_role_may_start_stop_describe_and_invoke")
def state_machine_role_without_policy(w: World) -> None:
    """The state machine role's permissions removed."""
    role = w.machine()["roleArn"].rsplit("/", 1)[-1]
    iam = w.client("iam")
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        iam.delete_role_policy(RoleName=role, PolicyName=name)


@fault(advises=frozenset({"state_machine_role_may_start_stop_describe_and_invoke"}))
def state_machine_role_stops_every_instance(w: World) -> None:
    """Console shape: the state machine's role may start and stop every instance of the
    account. Must pass, with an advisory (hardening beyond the guide)."""
    role = w.machine()["roleArn"].rsplit("/", 1)[-1]
    iam = w.client("iam")
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        iam.delete_role_policy(RoleName=role, PolicyName=name)
    iam.put_role_policy(
        RoleName=role,
        PolicyName="console-made",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": [
                            "ec2:StartInstances",
                            "ec2:StopInstances",
                            "ec2:DescribeInstances",
                        ],
                        "Resource": "*",
                    },
                    {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"},
                ],
            }
        ),
    )


@fault("state_machine_invokes_deployed_code")
def state_machine_invokes_a_pinned_old_version(w: World) -> None:
    """The state machine invokes version 1 of the function, and a newer image was deployed
    since: the runs keep the old code."""
    lam = w.client("lambda")
    name = w.p.function.function
    version = lam.publish_version(FunctionName=name)["Version"]
    world.push_image(w.session, w.inv, w.p, build="2")
    repo = w.inv.repository(w.p.redeployment.ecr_repository)["repositoryUri"]
    lam.update_function_code(FunctionName=name, ImageUri=f"{repo}:{w.p.redeployment.image_tag}")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    flow = w.guide_flow()
    flow["States"]["Notify"]["Parameters"]["FunctionName"] = f"{w.function_arn()}:{version}"
    w.set_definition(flow)


# -- Trigger --------------------------------------------------------------------------------


@fault("rule_fires_hourly_and_is_enabled")
def rule_left_disabled(w: World) -> None:
    """The rule still disabled after setup."""
    w.client("events").disable_rule(Name=w.p.trigger.rule)


@fault("rule_fires_hourly_and_is_enabled")
def rule_every_five_minutes(w: World) -> None:
    """The schedule changed to every five minutes."""
    rule = w.inv.rule(w.p.trigger.rule)
    w.client("events").put_rule(
        Name=w.p.trigger.rule, ScheduleExpression="cron(0/5 * * * ? *)", State=rule["State"]
    )


@fault("rule_input_names_actual_instance")
def rule_input_names_old_instance(w: World) -> None:
    """The input still names the instance from the guide's example."""
    data = json.loads(w.target()["Input"])
    w.put_target(Input=json.dumps({**data, "db_instance_id": "i-01708f003d7c13d71"}))


@fault()
def rule_input_with_extra_keys(w: World) -> None:
    """Valid JSON input with an extra key. Must pass (an advisory names the key)."""
    data = json.loads(w.target()["Input"])
    w.put_target(Input=json.dumps({**data, "comment": "hourly"}))


@fault("rule_target_makes_no_retries")
def rule_target_retries(w: World) -> None:
    """EventBridge's default retry policy on the target."""
    w.put_target(RetryPolicy={"MaximumRetryAttempts": 185})


@fault("rule_targets_runner_with_permission")
def eventbridge_role_without_policy(w: World) -> None:
    """The role the rule's target uses holds no policy: every hour fails to start the run."""
    role = w.target()["RoleArn"].rsplit("/", 1)[-1]
    iam = w.client("iam")
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        iam.delete_role_policy(RoleName=role, PolicyName=name)


@fault("rule_targets_runner_with_permission")
def rule_also_invokes_the_function(w: World) -> None:
    """A second target on the rule invokes the function directly, with the database stopped."""
    w.client("events").put_targets(
        Rule=w.p.trigger.rule, Targets=[{"Id": "direct", "Arn": w.function_arn()}]
    )


@fault(
    "rule_targets_runner_with_permission",
    "rule_input_names_actual_instance",
    "rule_target_makes_no_retries",
)
def rule_without_target(w: World) -> None:
    """The rule's target removed."""
    w.client("events").remove_targets(Rule=w.p.trigger.rule, Ids=[w.target()["Id"]])


# -- Egress ---------------------------------------------------------------------------------


@fault("lambda_enis_have_one_elastic_ip_per_subnet")
def lambda_eni_without_elastic_ip(w: World) -> None:
    """One of the Lambda's ENIs lost its Elastic IP (released, so nothing sits idle)."""
    eni = L.lambda_enis(w.inv, w.p.function.function)[0]["NetworkInterfaceId"]
    address = next(a for a in w.inv.addresses() if a.get("NetworkInterfaceId") == eni)
    ec2 = w.client("ec2")
    ec2.disassociate_address(AssociationId=address["AssociationId"])
    ec2.release_address(AllocationId=address["AllocationId"])


@fault("function_logs_show_no_timeouts", "function_log_shows_every_run_finished", manual=True)
def function_timed_out(w: World) -> None:
    """The notifier's log shows a run, two hours ago, that timed out reaching the internet."""
    logs = w.client("logs")
    group = L.log_group(w.p)
    if not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
        logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="2026/11/23/[$LATEST]lab")
    at = datetime.now(UTC) - timedelta(hours=2)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="2026/11/23/[$LATEST]lab",
        logEvents=[
            {
                "timestamp": int(at.timestamp() * 1000),
                "message": f"{at:%Y-%m-%dT%H:%M:%S}Z Task timed out after 300.10 seconds",
            }
        ],
    )


@fault("lambda_subnet_acls_let_web_traffic_out_and_back", manual=True)
def lambda_subnet_acl_denies_https_out(w: World) -> None:
    """The second Lambda subnet's network ACL denies outbound HTTPS."""
    subnet = L.subnet(w.inv, w.p, w.p.vpc.lambda_subnets[1].name)
    w.acl_entry(subnet, egress=True, deny=True, cidr="0.0.0.0/0", port=443)


# -- Extra permissions / VPC ----------------------------------------------------------------


@fault("secret_policy_grants_exactly_the_secret")
def secret_policy_with_wildcard(w: World) -> None:
    """The secret policy's resource list holds the secret's ARN and '*'."""
    policy = w.inv.local_policy(w.p.secret.policy)
    arn = w.inv.secret(w.p.secret.name)["ARN"]
    w.client("iam").create_policy_version(
        PolicyArn=policy["Policy"]["Arn"],
        SetAsDefault=True,
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "secretsmanager:GetSecretValue",
                        "Resource": [arn, "*"],
                    }
                ],
            }
        ),
    )


@fault(
    "function_role_has_secret_vpc_and_logging_policies",
    "function_role_may_do_what_the_function_does",
)
def function_role_without_vpc_access(w: World) -> None:
    """AWSLambdaVPCAccessExecutionRole detached from the function's role."""
    role = L.function_config(w.inv, w.p)["Role"].rsplit("/", 1)[-1]
    w.client("iam").detach_role_policy(
        RoleName=role,
        PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
    )


@fault("secret_policy_grants_exactly_the_secret")
def secret_policy_allows_every_secret_action(w: World) -> None:
    """The secret policy grants secretsmanager:* on the secret: it may also change or delete it."""
    policy = w.inv.local_policy(w.p.secret.policy)
    w.client("iam").create_policy_version(
        PolicyArn=policy["Policy"]["Arn"],
        SetAsDefault=True,
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "secretsmanager:*",
                        "Resource": w.inv.secret(w.p.secret.name)["ARN"],
                    }
                ],
            }
        ),
    )


@fault("function_role_may_do_what_the_function_does")
def function_role_cannot_write_its_log_to_s3(w: World) -> None:
    """The function's role lost the S3 permission the notifier's code needs every run
    (lambda.required_actions): the runs would fail only at their end."""
    role = L.function_config(w.inv, w.p)["Role"].rsplit("/", 1)[-1]
    iam = w.client("iam")
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        iam.delete_role_policy(RoleName=role, PolicyName=name)


@fault("function_role_may_do_what_the_function_does", manual=True)
def function_role_not_assumable_by_lambda(w: World) -> None:
    """The function's role trusts EC2 instead of Lambda."""
    role = L.function_config(w.inv, w.p)["Role"].rsplit("/", 1)[-1]
    w.client("iam").update_assume_role_policy(
        RoleName=role,
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "ec2.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )


@fault("function_vpc_config_is_exactly_the_subnets_and_groups")
def function_in_one_subnet(w: World) -> None:
    """The function in one subnet only."""
    cfg = L.function_config(w.inv, w.p)["VpcConfig"]
    w.client("lambda").update_function_configuration(
        FunctionName=w.p.function.function,
        VpcConfig={"SubnetIds": cfg["SubnetIds"][:1], "SecurityGroupIds": cfg["SecurityGroupIds"]},
    )


# -- Redeployment ---------------------------------------------------------------------------


@fault("function_runs_image_behind_tag")
def image_pushed_not_deployed(w: World) -> None:
    """A new image pushed to the tag, the function not redeployed."""
    world.push_image(w.session, w.inv, w.p, build="2")


@fault(
    "ecr_repository_private_and_holds_tag",
    "image_behind_tag_is_one_manifest_lambda_runs",
    "function_runs_image_behind_tag",
    "lifecycle_policy_keeps_the_running_image",
    manual=True,
)
def image_tag_deleted(w: World) -> None:
    """The tag deleted from the repository, and with it the image the function runs (its only
    tag): the function fails once Lambda needs the image again."""
    w.client("ecr").batch_delete_image(
        repositoryName=w.p.redeployment.ecr_repository,
        imageIds=[{"imageTag": w.p.redeployment.image_tag}],
    )


OCI_INDEX = "application/vnd.oci.image.index.v1+json"


@fault(
    "image_behind_tag_is_one_manifest_lambda_runs", "function_runs_image_behind_tag", manual=True
)
def image_index_behind_latest(w: World) -> None:
    """docker buildx's default since 2023: an image index (the image and a provenance
    attestation) pushed to the tag, which Lambda rejects; upstream builds with
    --provenance false since 2025-01."""
    running = w.client("ecr").describe_images(
        repositoryName=w.p.redeployment.ecr_repository,
        imageIds=[{"imageTag": w.p.redeployment.image_tag}],
    )["imageDetails"][0]["imageDigest"]
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": running,
                "size": 1000,
                "platform": {"architecture": "amd64", "os": "linux"},
            },
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": "sha256:" + "a" * 64,
                "size": 840,
                "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
                "platform": {"architecture": "unknown", "os": "unknown"},
            },
        ],
    }
    w.client("ecr").put_image(
        repositoryName=w.p.redeployment.ecr_repository,
        imageTag=w.p.redeployment.image_tag,
        imageManifest=json.dumps(index),
        imageManifestMediaType=OCI_INDEX,
    )


def _lifecycle(w: World, *rules: dict[str, Any]) -> None:
    w.client("ecr").put_lifecycle_policy(
        repositoryName=w.p.redeployment.ecr_repository,
        lifecyclePolicyText=json.dumps({"rules": list(rules)}),
    )


@fault("lifecycle_policy_keeps_the_running_image", manual=True)
def lifecycle_rule_expires_the_running_image(w: World) -> None:
    """A rule meant for old images that selects every image: the one the function runs
    expires 30 days after its push, redeployed or not."""
    _lifecycle(
        w,
        {
            "rulePriority": 1,
            "description": "expire images older than 30 days",
            "selection": {
                "tagStatus": "any",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 30,
            },
            "action": {"type": "expire"},
        },
    )


@fault()
def lifecycle_rules_for_untagged_images_only(w: World) -> None:
    """Correct: upstream's kind of lifecycle policy, expiring the untagged images a new push
    leaves behind and keeping the newest 3 tagged ones."""
    _lifecycle(
        w,
        {
            "rulePriority": 1,
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 1,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "selection": {
                "tagStatus": "tagged",
                "tagPatternList": ["*"],
                "countType": "imageCountMoreThan",
                "countNumber": 3,
            },
            "action": {"type": "expire"},
        },
    )


@fault("administration_group_may_push_the_image", manual=True)
def ecr_policy_names_another_repository(w: World) -> None:
    """The group's ECR policy still names the repository of an earlier deployment: pushes are
    denied."""
    iam = w.client("iam")
    arn = next(
        a["PolicyArn"]
        for a in iam.list_attached_group_policies(GroupName=w.p.iam.group)["AttachedPolicies"]
        if a["PolicyName"] == w.p.iam.ecr_policy
    )
    repository = w.inv.repository(w.p.redeployment.ecr_repository)["repositoryArn"]
    iam.create_policy_version(
        PolicyArn=arn,
        SetAsDefault=True,
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
                    {
                        "Effect": "Allow",
                        "Action": "ecr:*",
                        "Resource": repository.rsplit("/", 1)[0] + "/notifier-old",
                    },
                ],
            }
        ),
    )


# -- Other variants (each on the lab built from its example profile) -------------------------


@fault("aurora_cluster_serverless_pauses_when_idle", profile="example-aurora-serverless-v1")
def aurora_never_pauses(w: World) -> None:
    """Auto-pause off: the cluster bills its minimum capacity around the clock."""
    # moto replaces the whole scaling configuration (AWS merges): restate the capacities.
    w.client("rds").modify_db_cluster(
        DBClusterIdentifier=w.p.database.cluster,
        ScalingConfiguration={
            "MinCapacity": int(w.p.database.min_capacity),
            "MaxCapacity": int(w.p.database.max_capacity),
            "AutoPause": False,
        },
    )


@fault("rule_targets_runner_with_permission", profile="example-aurora-serverless-v1")
def aurora_trigger_without_invoke_permission(w: World) -> None:
    """The function's resource policy no longer lets EventBridge invoke it."""
    lam = w.client("lambda")
    for statement in w.inv.function_policy(w.p.function.function)["Statement"]:
        lam.remove_permission(FunctionName=w.p.function.function, StatementId=statement["Sid"])


@fault("lambda_subnets_route_to_available_nat_gateway", profile="example-nat-gateway")
def nat_gateway_route_missing(w: World) -> None:
    """A Lambda subnet's default route to the NAT gateway deleted."""
    subnet = L.subnet(w.inv, w.p, w.p.vpc.lambda_subnets[0].name)
    table = L.route_table_of(w.inv, subnet)
    w.client("ec2").delete_route(
        RouteTableId=table["RouteTableId"], DestinationCidrBlock="0.0.0.0/0"
    )


@fault("function_package_matches_variant", profile="example-nat-gateway")
def function_runtime_changed(w: World) -> None:
    """The runtime switched in the console: not the profile's."""
    lam = w.client("lambda")
    lam.update_function_configuration(FunctionName=w.p.function.function, Runtime="python3.12")
    lam.get_waiter("function_updated_v2").wait(FunctionName=w.p.function.function)


@fault("function_code_matches_local_zip", profile="example-nat-gateway")
def function_code_not_the_local_zip(w: World) -> None:
    """Someone edited the code in the console: it no longer is the local lambda.zip."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("lambda_function.py", "def lambda_handler(event, context):\n    return 1\n")
    lam = w.client("lambda")
    lam.update_function_code(FunctionName=w.p.function.function, ZipFile=buf.getvalue())
    lam.get_waiter("function_updated_v2").wait(FunctionName=w.p.function.function)


@fault("access_host_exists_in_vpc", "database_sg_admits_access_host", profile="example-nat-gateway")
def bastion_terminated(w: World) -> None:
    """The bastion terminated."""
    host = L.access_host(w.inv, w.p)
    w.client("ec2").terminate_instances(InstanceIds=[host["InstanceId"]])


EICE = "example-instance-connect-endpoint"


@fault(
    "instance_connect_endpoint_reaches_access_host",
    "database_sg_admits_only_mysql_from_itself_and_access_host",
    profile=EICE,
)
def instance_connect_endpoint_deleted(w: World) -> None:
    """The Instance Connect Endpoint deleted (listed as delete-complete for a while): nothing
    reaches the access host, and the SSH rule from its group is now a stray inbound rule."""
    for endpoint in L.instance_connect_endpoints(w.inv, w.p):
        w.client("ec2").delete_instance_connect_endpoint(
            InstanceConnectEndpointId=endpoint["InstanceConnectEndpointId"]
        )


@fault("instance_connect_endpoint_reaches_access_host", profile=EICE)
def endpoint_ssh_rule_revoked(w: World) -> None:
    """The access host's group no longer admits SSH from the endpoint's group."""
    group = L.instance_connect_endpoints(w.inv, w.p)[0]["SecurityGroupIds"][0]
    host_group = L.access_host(w.inv, w.p)["SecurityGroups"][0]["GroupId"]
    w.client("ec2").revoke_security_group_ingress(
        GroupId=host_group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "UserIdGroupPairs": [{"GroupId": group}],
            }
        ],
    )


SSM_ACCESS = ("access_host_is_online_in_session_manager", "access_host_role_allows_session_manager")


@fault(*SSM_ACCESS, profile="example-session-manager")
def session_manager_policy_detached(w: World) -> None:
    """AmazonSSMManagedInstanceCore detached from the access host's role: its agent can no
    longer register, so the host drops out of Session Manager."""
    w.client("iam").detach_role_policy(
        RoleName=w.p.access_host.session_manager_role,
        PolicyArn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
    )


@fault(*SSM_ACCESS, profile="example-session-manager")
def instance_profile_disassociated(w: World) -> None:
    """The access host's instance profile removed: no role, no agent."""
    ec2 = w.client("ec2")
    host = L.access_host(w.inv, w.p)
    for association in ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [host["InstanceId"]]}]
    )["IamInstanceProfileAssociations"]:
        ec2.disassociate_iam_instance_profile(AssociationId=association["AssociationId"])


@fault("lambda_subnets_route_to_nat_instance", profile="example-nat-instance")
def nat_instance_checks_source(w: World) -> None:
    """The NAT instance's source/destination check back on: it drops forwarded traffic."""
    nat = L.instance_named(w.inv, w.p.egress.nat_instance_name)
    w.client("ec2").modify_instance_attribute(
        InstanceId=nat["InstanceId"], SourceDestCheck={"Value": True}
    )


@fault(
    "aurora_cluster_private_in_database_group_over_both_subnets",
    "no_security_group_admits_internet_to_database_or_lambda",
    profile="example-aurora-serverless-v2",
)
def aurora_cluster_in_extra_group(w: World) -> None:
    """The cluster also in the internet group: not 'the database group only', and open to
    HTTP and HTTPS from the internet."""
    w.client("rds").modify_db_cluster(
        DBClusterIdentifier=w.p.database.cluster,
        VpcSecurityGroupIds=[w.group_id("database"), w.group_id("internet")],
    )
