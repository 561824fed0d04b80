"""The guide's deployment (EC2 database, Elastic IPs, image, Cloud9) built another way: plain
boto3 calls in the guide's order, named as a person and the console name things, never by
the project's perform. The lab's helpers play only what AWS's services do (Cloud9's instance,
Lambda's network interfaces, a day of hourly runs) and give the image's manifest and the
guide's flow. ``build`` returns the profile of what it made: the truth discover must find."""

from __future__ import annotations

import json
import os
import random
import string
from typing import Any

import boto3
import pymysql

from runbook.aws.inventory import Inventory
from runbook.aws.session import open_session
from runbook.lab import history, world
from runbook.profile import GUIDE_GROUP_POLICIES, Profile
from runbook.stepfunctions.template import guide_definition

SUBNETS = (("notifier-subnet-a", "10.0.0.0/24", "a"), ("notifier-subnet-b", "10.0.1.0/24", "b"))
NAMES: dict[str, Any] = {
    "iam": {"group": "NotifierOperators", "user": "notifier-operator"},
    "vpc": {"name": "notifier-network", "subnets": [{"name": n, "cidr": c} for n, c, _ in SUBNETS]},
    "security_groups": {"database": "notifier-mysql-sg", "internet": "notifier-web-out-sg"},
    "database": {"instance_name": "notifier-mysql-server"},
    "access_host": {"cloud9_environment": "notifier-console"},
    "secret": {"name": "prod/notifier/credentials", "policy": "NotifierReadCredentials"},
    "step_functions": {"state_machine": "NotifierHourlyCycle"},
    "trigger": {"rule": "notifier-on-the-hour"},
    "redeployment": {"ecr_repository": "wikidot_notifier"},
}
AWS_MANAGED = "arn:aws:iam::aws:policy/"


def _random(n: int = 8) -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=n))


def _allow(action: str | list[str], resource: str | list[str]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _named(kind: str, name: str) -> list[dict[str, Any]]:
    return [{"ResourceType": kind, "Tags": [{"Key": "Name", "Value": name}]}]


def _console_role(iam: Any, name: str, service: str, *inline: dict[str, Any]) -> str:
    """A role as the console makes it for a service (under /service-role/), with its inline
    policy if it gives it one."""
    trust = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    role = iam.create_role(
        RoleName=name, Path="/service-role/", AssumeRolePolicyDocument=_doc(trust)
    )
    if inline:
        iam.put_role_policy(
            RoleName=name, PolicyName=f"{name}-policy", PolicyDocument=_doc(*inline)
        )
    return str(role["Role"]["Arn"])


def _tcp(port: int, peer: str) -> dict[str, Any]:
    """One rule as the console adds it: a group id or a CIDR block as its peer."""
    key = {"UserIdGroupPairs": [{"GroupId": peer}]} if peer.startswith("sg-") else None
    return {
        "IpProtocol": "tcp",
        "FromPort": port,
        "ToPort": port,
        **(key or {"IpRanges": [{"CidrIp": peer}]}),
    }


def truth_of(base: Profile, role: str) -> Profile:
    """The base profile (the lab's hosts, values) with the names this build gives."""
    data = base.model_dump(by_alias=True, exclude_unset=True)
    for section, values in {**NAMES, "lambda": {"role": role}}.items():
        data[section] = {**data.get(section, {}), **values}
    return Profile.model_validate(data).model_copy(update={"source": base.source})


def build(base: Profile, url: str) -> Profile:
    """Build the deployment into the lab at ``url`` (reset beforehand); its profile."""
    region, function = base.region, base.function.function
    # The console's "Create a new role with basic Lambda permissions", named after the function.
    p = truth_of(base, f"{function}-role-{_random()}")
    client = boto3.Session(region_name=region).client
    ec2, iam, lam, ecr, events = (client(s) for s in ("ec2", "iam", "lambda", "ecr", "events"))
    account = client("sts").get_caller_identity()["Account"]
    hand = open_session(region, writable=True)  # for the lab's part (Cloud9, Lambda's ENIs)

    # Creating an IAM user: the group with the guide's policies, its user with a password.
    group, user = p.iam.group, p.iam.user
    iam.create_group(GroupName=group)
    for name in GUIDE_GROUP_POLICIES:
        iam.attach_group_policy(GroupName=group, PolicyArn=AWS_MANAGED + name)
    iam.create_user(UserName=user)
    iam.add_user_to_group(GroupName=group, UserName=user)
    iam.create_login_profile(UserName=user, Password=f"Pw-{_random(16)}!A1")

    # Creating a VPC, another subnet in another zone, the internet gateway, a public table.
    vpc = ec2.create_vpc(CidrBlock=p.vpc.cidr, TagSpecifications=_named("vpc", p.vpc.name))
    vpc_id = vpc["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=cidr,
            AvailabilityZone=region + zone,
            TagSpecifications=_named("subnet", name),
        )["Subnet"]["SubnetId"]
        for name, cidr, zone in SUBNETS
    ]
    igw = ec2.create_internet_gateway(TagSpecifications=_named("internet-gateway", "notifier-gw"))
    igw_id = igw["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    table = ec2.create_route_table(
        VpcId=vpc_id, TagSpecifications=_named("route-table", "notifier-public")
    )["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    for subnet in subnets:
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)

    # Creating security groups, with exactly the guide's rules.
    def security_group(name: str, what: str) -> str:
        made = ec2.create_security_group(GroupName=name, Description=what, VpcId=vpc_id)
        return str(made["GroupId"])

    db_sg = security_group(p.security_groups.database, "MySQL of the notifier")
    web_sg = security_group(p.security_groups.internet, "the notifier's Lambda to the web")
    ec2.authorize_security_group_ingress(GroupId=db_sg, IpPermissions=[_tcp(3306, db_sg)])
    ec2.authorize_security_group_egress(GroupId=db_sg, IpPermissions=[_tcp(3306, db_sg)])
    web = [_tcp(80, "0.0.0.0/0"), _tcp(443, "0.0.0.0/0")]
    ec2.authorize_security_group_ingress(GroupId=web_sg, IpPermissions=web)
    everything = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ec2.revoke_security_group_egress(GroupId=web_sg, IpPermissions=[everything])
    ec2.authorize_security_group_egress(GroupId=web_sg, IpPermissions=web)

    # Creating the database on EC2: t3.nano with unlimited credits, Amazon Linux 2, 8 GB gp3.
    image = ec2.describe_images(
        Owners=["amazon"], Filters=[{"Name": "name", "Values": ["amzn2-ami-hvm-*-x86_64-gp2"]}]
    )["Images"][0]["ImageId"]
    root = {"DeviceName": "/dev/xvda", "Ebs": {"VolumeType": "gp3", "VolumeSize": 8}}
    instance = ec2.run_instances(
        ImageId=image,
        InstanceType=p.database.instance_type,
        MinCount=1,
        MaxCount=1,
        SubnetId=subnets[0],
        SecurityGroupIds=[db_sg],
        CreditSpecification={"CpuCredits": "unlimited"},
        BlockDeviceMappings=[root],
        TagSpecifications=_named("instance", p.database.instance_name),
    )["Instances"][0]
    instance_id = instance["InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id])

    # Accessing the database: Cloud9 makes its instance and group; MySQL admitted from it.
    world.cloud9_environment(hand, Inventory(open_session(region)), p)
    cloud9_name = f"aws-cloud9-{p.access_host.cloud9_environment}-*"
    cloud9 = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": [cloud9_name]}])
    access = cloud9["Reservations"][0]["Instances"][0]
    access_sg = access["SecurityGroups"][0]["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=db_sg, IpPermissions=[_tcp(3306, access_sg)])
    _notifier_account(p)

    # Adding secrets to Secrets Manager: one secret with the five keys.
    value = {**world.LAB_SECRET_VALUES, "mysql_host": instance["PrivateIpAddress"]}
    made = client("secretsmanager").create_secret(
        Name=p.secret.name, SecretString=json.dumps(value)
    )
    secret = made["ARN"]

    # Redeployment as a Docker container: a private repository, the image pushed with
    # --provenance false, and the group's own policy to push it.
    repo = ecr.create_repository(repositoryName=p.redeployment.ecr_repository)["repository"]
    ecr.put_image(
        repositoryName=repo["repositoryName"],
        imageManifest=json.dumps(world.image_manifest("1")),
        imageTag=p.redeployment.image_tag,
    )
    push = iam.create_policy(
        PolicyName="notifier-image-push",
        PolicyDocument=_doc(
            _allow("ecr:GetAuthorizationToken", "*"), _allow("ecr:*", repo["repositoryArn"])
        ),
    )
    iam.attach_group_policy(GroupName=group, PolicyArn=push["Policy"]["Arn"])

    # Setting up the Lambda from the image: the console's role and its basic execution
    # policy, then timeout, memory, reserved concurrency 1 and no asynchronous retries.
    role = p.function.role
    role_arn = _console_role(iam, role, "lambda.amazonaws.com")
    logs = f"arn:aws:logs:{region}:{account}"
    basic = iam.create_policy(
        PolicyName=f"AWSLambdaBasicExecutionRole-{_random(8)}-{_random(4)}",
        Path="/service-role/",
        PolicyDocument=_doc(
            _allow("logs:CreateLogGroup", f"{logs}:*"),
            _allow(
                ["logs:CreateLogStream", "logs:PutLogEvents"],
                [f"{logs}:log-group:/aws/lambda/{function}:*"],
            ),
        ),
    )
    iam.attach_role_policy(RoleName=role, PolicyArn=basic["Policy"]["Arn"])
    function_arn = lam.create_function(
        FunctionName=function,
        PackageType="Image",
        Code={"ImageUri": f"{repo['repositoryUri']}:{p.redeployment.image_tag}"},
        Role=role_arn,
    )["FunctionArn"]
    lam.get_waiter("function_active_v2").wait(FunctionName=function)
    lam.update_function_configuration(FunctionName=function, Timeout=300, MemorySize=200)
    lam.get_waiter("function_updated_v2").wait(FunctionName=function)
    lam.put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=1)
    lam.put_function_event_invoke_config(FunctionName=function, MaximumRetryAttempts=0)

    # Start/stop the database using Step Functions: the guide's flow, the console's role.
    machine_role = _console_role(
        iam,
        f"StepFunctions-{p.step_functions.state_machine}-role-{_random()}",
        "states.amazonaws.com",
        _allow(
            ["ec2:StartInstances", "ec2:StopInstances"],
            f"arn:aws:ec2:{region}:{account}:instance/{instance_id}",
        ),
        _allow("ec2:DescribeInstances", "*"),
        _allow("lambda:InvokeFunction", [function_arn, f"{function_arn}:*"]),
    )
    flow = guide_definition(function_arn, max_tries=p.step_functions.max_tries)
    machine = client("stepfunctions").create_state_machine(
        name=p.step_functions.state_machine, definition=json.dumps(flow), roleArn=machine_role
    )["stateMachineArn"]

    # Adding the Lambda trigger: the hourly rule, the state machine its target (with the
    # console's role), constant input with the instance's id, no retries.
    events.put_rule(Name=p.trigger.rule, ScheduleExpression=p.trigger.schedule, State="ENABLED")
    rule_role = _console_role(
        iam,
        f"Amazon_EventBridge_Invoke_Step_Functions_{random.randrange(10**9)}",
        "events.amazonaws.com",
        _allow("states:StartExecution", machine),
    )
    constant = {"db_instance_id": instance_id, "config_path": p.trigger.config_path}
    target = {
        "Id": f"Id{_random()}",
        "Arn": machine,
        "RoleArn": rule_role,
        "Input": json.dumps({**constant, "auth_path": p.trigger.auth_path}),
        "RetryPolicy": {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 86400},
    }
    events.put_targets(Rule=p.trigger.rule, Targets=[target])

    # Extra permissions for the Lambda: the secret policy and VPC access attached to its role,
    # and the S3 log dump today's notifier makes (the profile's lambda.required_actions).
    read = iam.create_policy(
        PolicyName=p.secret.policy,
        PolicyDocument=_doc(_allow("secretsmanager:GetSecretValue", secret)),
    )
    iam.attach_role_policy(RoleName=role, PolicyArn=read["Policy"]["Arn"])
    iam.attach_role_policy(
        RoleName=role, PolicyArn=AWS_MANAGED + "service-role/AWSLambdaVPCAccessExecutionRole"
    )
    needs = [_allow(r.action, r.resource) for r in p.function.required_actions]
    if needs:
        iam.put_role_policy(
            RoleName=role, PolicyName="notifier-log-dump", PolicyDocument=_doc(*needs)
        )

    # Add the Lambda to the VPC: both subnets, both groups; Lambda makes its interfaces.
    vpc_config = {"SubnetIds": subnets, "SecurityGroupIds": [db_sg, web_sg]}
    lam.update_function_configuration(FunctionName=function, VpcConfig=vpc_config)
    lam.get_waiter("function_updated_v2").wait(FunctionName=function)
    world.lambda_enis(hand, Inventory(open_session(region)), p)

    # Enabling internet access for the Lambda: an Elastic IP on each of its interfaces.
    enis = ec2.describe_network_interfaces(
        Filters=[{"Name": "description", "Values": [f"AWS Lambda VPC ENI-{function}-*"]}]
    )["NetworkInterfaces"]
    for eni in enis:
        allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
        ec2.associate_address(AllocationId=allocation, NetworkInterfaceId=eni["NetworkInterfaceId"])

    # Between the hourly runs the database is stopped; a day of runs, as AWS records them.
    ec2.stop_instances(InstanceIds=[instance_id])
    history.seed(open_session(region, writable=True, may_delete=True), url, p)
    return p


def _notifier_account(p: Profile) -> None:
    """notifier-database.md as a person types it, as the MySQL administrator, from the access
    host (the lab maps the database's address to its MariaDB). IF NOT EXISTS: the lab's
    MariaDB outlives the resets of its AWS."""
    host, _, port = p.hosts.address_map[f"*:{p.database.mysql_port}"].rpartition(":")
    admin = os.environ["RUNBOOK_MYSQL_ADMIN_USER"], os.environ["RUNBOOK_MYSQL_ADMIN_PASSWORD"]
    conn = pymysql.connect(host=host, port=int(port), user=admin[0], password=admin[1])
    account = (world.LAB_SECRET_VALUES["mysql_username"], p.database.mysql_user_host)
    password = world.LAB_SECRET_VALUES["mysql_password"]
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (*account, password))
            for name in p.database.mysql_databases:
                charset = "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                cur.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` {charset}")
                cur.execute(f"GRANT ALL PRIVILEGES ON `{name}`.* TO %s@%s", account)
    finally:
        conn.close()
