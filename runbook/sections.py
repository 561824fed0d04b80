"""The guide's sections in the guide's order, and which variants each applies to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from runbook.profile import Profile

Applies = Callable[[Profile], str | None]  # None when it applies, else why not


def always(_: Profile) -> None:
    return None


def database_is(*kinds: str) -> Applies:
    def applies(p: Profile) -> str | None:
        if p.variants.database in kinds:
            return None
        return f"not in this variant (database = {p.variants.database})"

    return applies


def egress_is(*kinds: str) -> Applies:
    def applies(p: Profile) -> str | None:
        if p.variants.egress in kinds:
            return None
        return f"not in this variant (egress = {p.variants.egress})"

    return applies


def packaging_is(kind: str) -> Applies:
    def applies(p: Profile) -> str | None:
        if p.variants.packaging == kind:
            return None
        return f"not in this variant (packaging = {p.variants.packaging})"

    return applies


def access_host_is(kind: str) -> Applies:
    def applies(p: Profile) -> str | None:
        if p.variants.access_host == kind:
            return None
        return f"not in this variant (access host = {p.variants.access_host})"

    return applies


def running(p: Profile) -> str | None:
    """The hourly cycle runs once the deployment is past setup (the rule is enabled)."""
    if p.deployment.phase == "setup":
        return "not in this phase (setup: the rule is disabled, nothing runs yet)"
    return None


AURORA = ("aurora-serverless-v1", "aurora-serverless-v2")


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    guide: str  # the heading in the deployment guide
    console: str  # where its resources are in the AWS console (a check may say more)
    applies: Applies = always


SECTIONS: tuple[Section, ...] = (
    Section(
        "costs",
        "Estimated costs",
        "Estimated costs",
        "VPC > NAT gateways; EC2 > Elastic IPs; EC2 > Instances; Billing > Cost Explorer",
    ),
    Section(
        "iam",
        "Creating an IAM user",
        "First-time setup > Creating an IAM user",
        "IAM > User groups; IAM > Users",
    ),
    Section(
        "vpc",
        "Creating a VPC / Adding another subnet",
        "Creating a VPC; Adding another subnet",
        "VPC > Your VPCs; VPC > Subnets; VPC > Route tables; VPC > Internet gateways",
    ),
    Section(
        "security_groups",
        "Creating security groups",
        "Creating security groups",
        "VPC > Security groups",
    ),
    Section(
        "database_ec2",
        "Creating the database — EC2 variant",
        "Creating the database > On an EC2",
        "EC2 > Instances",
        database_is("ec2"),
    ),
    Section(
        "database_aurora",
        "Creating the database — Aurora Serverless variant",
        "Creating the database > On Aurora Serverless v1",
        "RDS > Databases",
        database_is(*AURORA),
    ),
    Section(
        "database_access",
        "Accessing the database",
        "Accessing the database > Setting up Cloud9",
        "Cloud9 > Environments (a bastion: EC2 > Instances); VPC > Security groups",
    ),
    Section(
        "secrets",
        "Adding secrets to Secrets Manager",
        "Adding secrets to Secrets Manager",
        "Secrets Manager > Secrets",
    ),
    Section("lambda", "Setting up the Lambda", "Setting up the Lambda", "Lambda > Functions"),
    Section(
        "step_functions",
        "Start/stop the database using Step Functions",
        "Start/stop the database using Step Functions > Database running on EC2",
        "Step Functions > State machines",
        database_is("ec2"),
    ),
    Section(
        "trigger",
        "Adding the Lambda trigger",
        "Adding the Lambda trigger",
        "EventBridge > Rules",
    ),
    Section(
        "egress",
        "Enabling internet access for the Lambda",
        "Enabling internet access for the Lambda",
        "VPC > Network interfaces; EC2 > Elastic IPs; VPC > NAT gateways; VPC > Route tables",
    ),
    Section(
        "lambda_permissions",
        "Extra permissions for the Lambda",
        "Extra permissions for the Lambda",
        "IAM > Roles; IAM > Policies",
    ),
    Section(
        "lambda_vpc",
        "Add the Lambda to the VPC",
        "Add the Lambda to the VPC",
        "Lambda > Functions > Configuration > VPC",
    ),
    Section(
        "redeployment",
        "Redeployment",
        "Redeployment",
        "ECR > Private repositories; Lambda > Functions > Image",
    ),
    Section(
        "operations",
        "Operations (nightly)",
        "Operations (nightly)",
        "CloudWatch > Metrics and Log groups; Step Functions > Executions",
        running,
    ),
)
SECTION_BY_ID = {s.id: s for s in SECTIONS}
