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


@dataclass(frozen=True)
class Fault:
    name: str
    breaks: frozenset[str]
    apply: Callable[[World], None]
    doc: str
    profile: str  # the profile (profiles/<name>.toml) whose lab the fault breaks
    # Checks the fault leaves uncheckable (could not check), e.g. a host that is gone.
    errors: frozenset[str] = frozenset()


FAULTS: dict[str, Fault] = {}
Breaker = Callable[[World], None]


def fault(
    *breaks: str, profile: str = "lab", errors: frozenset[str] = frozenset()
) -> Callable[[Breaker], Breaker]:
    def register(fn: Breaker) -> Breaker:
        doc = (fn.__doc__ or "").strip()
        FAULTS[fn.__name__] = Fault(fn.__name__, frozenset(breaks), fn, doc, profile, errors)
        return fn

    return register


TCP = {"IpProtocol": "tcp"}


def _tcp(port: int, to: int | None = None, **peer: Any) -> dict[str, Any]:
    return {**TCP, "FromPort": port, "ToPort": to or port, **peer}


# -- Estimated costs ------------------------------------------------------------------------


@fault("vpc_has_no_nat_gateway_unless_nat_variant", "monthly_cost_estimate_within_budget")
def nat_gateway_left_running(w: World) -> None:
    """A NAT gateway in the VPC (~$37.50/month) blows the budget too."""
    ec2 = w.client("ec2")
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    subnet = L.lambda_subnets(w.inv, w.p)[0]["SubnetId"]
    ec2.create_nat_gateway(SubnetId=subnet, AllocationId=allocation)


@fault("region_has_no_idle_elastic_ip")
def idle_elastic_ip(w: World) -> None:
    """An Elastic IP allocated and never associated."""
    w.client("ec2").allocate_address(Domain="vpc")


@fault("database_capacity_allowed_by_profile")
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


@fault("iam_group_has_exactly_guide_policies")
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


# -- VPC ------------------------------------------------------------------------------------


@fault("vpc_exists_with_profile_cidr")
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


# -- Security groups ------------------------------------------------------------------------


@fault("database_sg_admits_mysql_from_itself")
def database_group_self_rule_removed(w: World) -> None:
    """The database group's inbound MySQL rule from itself revoked."""
    gid = w.group_id("database")
    w.client("ec2").revoke_security_group_ingress(
        GroupId=gid, IpPermissions=[_tcp(3306, UserIdGroupPairs=[{"GroupId": gid}])]
    )


@fault()
def database_group_self_rule_as_wide_range(w: World) -> None:
    """Console shape: the self rule given as TCP 3000-4000 (contains 3306). Must pass."""
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


@fault("internet_sg_admits_http_https")
def internet_group_https_ingress_removed(w: World) -> None:
    """The internet group's inbound HTTPS rule revoked."""
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


# -- Database (EC2) -------------------------------------------------------------------------


@fault("database_burstable_instance_has_unlimited_credits")
def database_standard_credits(w: World) -> None:
    """The t3 database left in standard (throttled) CPU-credit mode."""
    w.client("ec2").modify_instance_credit_specification(
        InstanceCreditSpecifications=[
            {"InstanceId": w.db()["InstanceId"], "CpuCredits": "standard"}
        ]
    )


@fault("database_instance_has_no_elastic_ip")
def database_keeps_temporary_elastic_ip(w: World) -> None:
    """The Elastic IP used to download MySQL still associated with the database."""
    ec2 = w.client("ec2")
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.associate_address(AllocationId=allocation, InstanceId=w.db()["InstanceId"])


@fault("database_instance_in_vpc_subnet_and_group")
def database_outside_database_group(w: World) -> None:
    """The database instance moved to the internet group only."""
    w.client("ec2").modify_instance_attribute(
        InstanceId=w.db()["InstanceId"], Groups=[w.group_id("internet")]
    )


@fault("database_root_volume_is_gp3_of_profile_size")
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


@fault("access_host_exists_in_vpc", "database_sg_admits_access_host", errors=HOST_ACCESS)
def access_host_terminated(w: World) -> None:
    """The Cloud9 environment's instance terminated."""
    host = L.access_host(w.inv, w.p)
    w.client("ec2").terminate_instances(InstanceIds=[host["InstanceId"]])


# -- Secrets --------------------------------------------------------------------------------


@fault("secret_holds_exactly_the_five_keys")
def secret_with_extra_key(w: World) -> None:
    """A sixth key in the secret."""
    w.put_secret({**w.secret(), "mysql_port": "3306"})


@fault("secret_holds_exactly_the_five_keys")
def secret_with_empty_password(w: World) -> None:
    """gmail_password left empty."""
    w.put_secret({**w.secret(), "gmail_password": ""})


@fault("secret_mysql_host_is_the_database")
def secret_points_elsewhere(w: World) -> None:
    """mysql_host names another address (the old Aurora endpoint)."""
    w.put_secret(
        {**w.secret(), "mysql_host": "wikidotnotifierbdcluster.cluster-x.rds.amazonaws.com"}
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
    lam = w.client("lambda")
    # moto's PutFunctionEventInvokeConfig keeps an existing config: replace it explicitly.
    lam.delete_function_event_invoke_config(FunctionName=w.p.function.function)
    lam.put_function_event_invoke_config(FunctionName=w.p.function.function, MaximumRetryAttempts=2)


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


@fault("function_logs_show_no_timeouts", "function_log_shows_every_run_finished")
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


@fault("function_role_has_secret_vpc_and_logging_policies")
def function_role_without_vpc_access(w: World) -> None:
    """AWSLambdaVPCAccessExecutionRole detached from the function's role."""
    role = L.function_config(w.inv, w.p)["Role"].rsplit("/", 1)[-1]
    w.client("iam").detach_role_policy(
        RoleName=role,
        PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
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


@fault("ecr_repository_private_and_holds_tag", "function_runs_image_behind_tag")
def image_tag_deleted(w: World) -> None:
    """The tag deleted from the repository."""
    w.client("ecr").batch_delete_image(
        repositoryName=w.p.redeployment.ecr_repository,
        imageIds=[{"imageTag": w.p.redeployment.image_tag}],
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


@fault("lambda_subnets_route_to_nat_instance", profile="example-nat-instance")
def nat_instance_checks_source(w: World) -> None:
    """The NAT instance's source/destination check back on: it drops forwarded traffic."""
    nat = L.instance_named(w.inv, w.p.egress.nat_instance_name)
    w.client("ec2").modify_instance_attribute(
        InstanceId=nat["InstanceId"], SourceDestCheck={"Value": True}
    )


@fault(
    "aurora_cluster_private_in_database_group_over_both_subnets",
    profile="example-aurora-serverless-v2",
)
def aurora_cluster_in_extra_group(w: World) -> None:
    """The cluster also in the internet group: not 'the database group only'."""
    w.client("rds").modify_db_cluster(
        DBClusterIdentifier=w.p.database.cluster,
        VpcSecurityGroupIds=[w.group_id("database"), w.group_id("internet")],
    )
