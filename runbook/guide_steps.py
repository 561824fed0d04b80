"""The guide's steps: what a person does (or perform does for them) before a check can pass.

Each step is a ``When`` sentence of the feature files; the ``Then`` sentences under it are its
checks. Verify reads the same lines as a narrative, perform and guided execution act on them,
and the reports name each check's step. A step's ``instruction`` is the guide's in the
product's own words, with where in the console it is done.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GuideStep:
    id: str  # <section>.<step>
    says: str  # the When sentence
    instruction: str

    @property
    def section(self) -> str:
        return self.id.split(".", 1)[0]


def _steps(*steps: GuideStep) -> dict[str, GuideStep]:
    return {s.id: s for s in steps}


STEPS = _steps(
    GuideStep(
        "costs.review",
        "the running costs are reviewed against the profile's budget",
        "Billing > Cost Explorer: no NAT gateway unless egress goes through one, no idle "
        "Elastic IP, the database at one of the allowed sizes, the month inside the budget.",
    ),
    GuideStep(
        "iam.create_group",
        "the administration group is created with the guide's policies",
        "IAM > User groups > Create group: attach the guide's AWS-managed policies "
        "(RDS, Secrets Manager, EventBridge, Lambda, VPC, Cloud9, EC2; ECR for images).",
    ),
    GuideStep(
        "iam.create_user",
        "the administration user is created in the group, with a console password",
        "IAM > Users > Create user: console access with a password, added to the group, "
        "no policy attached to the user itself.",
    ),
    GuideStep(
        "iam.retire_root",
        "the root account is kept for creating the IAM user only",
        "Security credentials (as root): delete any access key of the root user; sign in "
        "as the administration user from now on.",
    ),
    GuideStep(
        "vpc.create_vpc",
        "the VPC is created with the profile's CIDR block",
        "VPC > Your VPCs > Create VPC: the profile's name and IPv4 CIDR, no IPv6 block.",
    ),
    GuideStep(
        "vpc.add_subnets",
        "the subnets are created in two availability zones",
        "VPC > Subnets > Create subnet: each of the profile's subnets with its CIDR block, "
        "the second in another availability zone than the first.",
    ),
    GuideStep(
        "vpc.attach_internet_gateway",
        "an internet gateway is attached and the public subnets route to it",
        "VPC > Internet gateways > Create and attach to the VPC; VPC > Route tables: "
        "0.0.0.0/0 to the gateway in the public subnets' table.",
    ),
    GuideStep(
        "security_groups.database_group",
        "the database security group is created",
        "VPC > Security groups > Create: inbound TCP 3306 from the group itself and the "
        "access host's group; outbound all traffic.",
    ),
    GuideStep(
        "security_groups.internet_group",
        "the internet security group is created",
        "VPC > Security groups > Create: inbound and outbound TCP 80 and 443 from and to "
        "anywhere, nothing else.",
    ),
    GuideStep(
        "security_groups.close_to_internet",
        "the security groups are kept closed to the internet",
        "VPC > Security groups: no rule admits 0.0.0.0/0 or ::/0 to the database's or the "
        "Lambda's groups (the internet group's web rules aside).",
    ),
    GuideStep(
        "database_ec2.launch_instance",
        "the database instance is launched in the VPC",
        "EC2 > Launch instance: Amazon Linux, the profile's burstable type with unlimited "
        "credits, a gp3 root volume of the profile's size, in a notifier subnet and the "
        "database security group only.",
    ),
    GuideStep(
        "database_ec2.release_temporary_ip",
        "the temporary Elastic IP is released from the database instance",
        "EC2 > Elastic IPs: disassociate and release the address used to install MySQL.",
    ),
    GuideStep(
        "database_ec2.install_mysql",
        "MySQL is installed and enabled on the database host",
        "On the instance (SSH): install the MySQL server at the profile's version, enable "
        "the service at boot and start it.",
    ),
    GuideStep(
        "database_aurora.create_cluster",
        "the Aurora serverless cluster is created",
        "RDS > Create database: Aurora MySQL serverless, the profile's capacity, pause when "
        "idle, not public, the database security group, a subnet group over both subnets, "
        "no initial database.",
    ),
    GuideStep(
        "database_access.access_host",
        "the access host is set up in the VPC",
        "Cloud9 > Create environment in the VPC (or the bastion, or the instance an EC2 "
        "Instance Connect Endpoint or Session Manager reaches).",
    ),
    GuideStep(
        "database_access.instance_connect_endpoint",
        "an EC2 Instance Connect Endpoint is created for the access host",
        "VPC > Endpoints > Create endpoint: EC2 Instance Connect Endpoint in the access "
        "host's subnet, with a group that reaches the host's on TCP 22.",
    ),
    GuideStep(
        "database_access.session_manager",
        "the access host is registered with Session Manager",
        "EC2 > the instance > IAM role: a role with AmazonSSMManagedInstanceCore; Systems "
        "Manager > Fleet Manager shows the host online.",
    ),
    GuideStep(
        "database_access.admit_access_host",
        "the database admits the access host",
        "VPC > Security groups: the database group admits TCP 3306 from the access host's "
        "group; VPC > Network ACLs let MySQL through both ways.",
    ),
    GuideStep(
        "database_access.create_databases",
        "the notifier's databases and MySQL user are created from the access host",
        "From the access host: mysql as admin, CREATE DATABASE for both notifier databases "
        "(utf8mb4, utf8mb4_bin), CREATE USER for the profile's network, GRANT ALL on both.",
    ),
    GuideStep(
        "secrets.store_secret",
        "the notifier's secret is stored",
        "Secrets Manager > Store a new secret: the five keys (mysql_host the database's "
        "private address), no resource policy beyond the account.",
    ),
    GuideStep(
        "lambda.create_function",
        "the function is created",
        "Lambda > Create function: the profile's name, package type, runtime and handler, "
        "timeout for the phase and memory.",
    ),
    GuideStep(
        "lambda.limit_concurrency",
        "the function's concurrency is reserved and its retries turned off",
        "Lambda > the function > Configuration > Concurrency: reserve 1; Asynchronous "
        "invocation: retry attempts 0.",
    ),
    GuideStep(
        "lambda.limit_invokers",
        "the function is left to its runner alone",
        "Lambda > the function > Configuration > Permissions and Triggers: no event source, "
        "destination, URL or outside invoker.",
    ),
    GuideStep(
        "step_functions.create_state_machine",
        "the start/stop state machine is created from the guide's definition",
        "Step Functions > Create state machine: the guide's definition (start the database, "
        "wait with a bounded loop, invoke the notifier, stop the database on every path).",
    ),
    GuideStep(
        "step_functions.grant_role",
        "the state machine's role is given its permissions",
        "IAM > Roles > the state machine's role: start, stop and describe the instance, "
        "invoke the function.",
    ),
    GuideStep(
        "trigger.create_rule",
        "the hourly rule is created with the runner as its target",
        "EventBridge > Rules > Create rule: the profile's schedule, the state machine (or "
        "the function) as the only target with its role, constant input, no retries.",
    ),
    GuideStep(
        "egress.elastic_ips",
        "an Elastic IP is associated with each Lambda network interface",
        "EC2 > Network interfaces: for each of the function's interfaces, allocate an "
        "Elastic IP and associate it.",
    ),
    GuideStep(
        "egress.nat_gateway",
        "a NAT gateway carries the Lambda subnets' traffic",
        "VPC > NAT gateways > Create in a public subnet with an Elastic IP; the Lambda "
        "subnets' route table sends 0.0.0.0/0 to it.",
    ),
    GuideStep(
        "egress.nat_instance",
        "a NAT instance carries the Lambda subnets' traffic",
        "EC2: a NAT instance with source/destination check off; the Lambda subnets' route "
        "table sends 0.0.0.0/0 to it.",
    ),
    GuideStep(
        "egress.confirm_way_out",
        "the Lambda's way out to the internet is confirmed",
        "VPC > Network ACLs allow HTTP/HTTPS out and back; CloudWatch > Logs: the notifier "
        "shows no time-outs (or run the egress probe).",
    ),
    GuideStep(
        "lambda_permissions.secret_policy",
        "the secret's read policy is created",
        "IAM > Policies > Create policy: secretsmanager:GetSecretValue on the secret's ARN only.",
    ),
    GuideStep(
        "lambda_permissions.function_role",
        "the function's role is given the secret, VPC and logging policies",
        "IAM > Roles > the function's role: attach the secret policy, "
        "AWSLambdaVPCAccessExecutionRole and basic execution.",
    ),
    GuideStep(
        "lambda_vpc.connect_function",
        "the function is connected to the VPC",
        "Lambda > the function > Configuration > VPC: the VPC, the Lambda subnets, the "
        "database and internet security groups.",
    ),
    GuideStep(
        "redeployment.upload_zip",
        "the local lambda.zip is uploaded to the function",
        "Lambda > the function > Code > Upload from .zip file.",
    ),
    GuideStep(
        "redeployment.push_image",
        "the image is pushed to the private repository",
        "ECR > Create repository (private); docker build and push with --provenance false; "
        "a lifecycle policy that keeps the running image.",
    ),
    GuideStep(
        "redeployment.grant_push",
        "the administration group is allowed to push images",
        "IAM > User groups > the group: an ECR policy that lets its user push to the repository.",
    ),
    GuideStep(
        "redeployment.update_function",
        "the function is updated to the image behind the tag",
        "Lambda > the function > Deploy new image: the repository's tag.",
    ),
    GuideStep(
        "operations.run_a_day",
        "the deployment has run on its schedule",
        "Wait for the hourly runs; CloudWatch > Metrics and Logs, Step Functions > "
        "Executions: every hour fired, succeeded and finished, the database stopped after.",
    ),
)


def by_sentence(sentence: str) -> GuideStep:
    for step in STEPS.values():
        if step.says == sentence:
            return step
    raise LookupError(f"no guide step says {sentence!r}: see runbook/guide_steps.py for the list")
