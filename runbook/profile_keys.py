"""Every profile key: the guide step it comes from, which mode reads it, and what it means.

The defaults are the model's (runbook.profile); this table adds what a person needs to set a
key with confidence. A test keeps it complete, and keeps "perform" honest: no verify code reads
a key marked so. ``docs/profile.md`` is generated from it (``notifier-runbook keys --markdown``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from runbook.profile import Profile

ReadBy = Literal["both", "verify", "perform"]
IAM = "Creating an IAM user"
VPC = "Creating a VPC"
SG = "Security groups"
DB = "Creating the database"
ACCESS = "Accessing the database"
SECRET = "Adding secrets to Secrets Manager"
LAMBDA = "Setting up the Lambda"
SFN = "Start/stop the database using Step Functions"
TRIGGER = "Adding the Lambda trigger"
EGRESS = "Lambda internet access"
REDEPLOY = "Redeployment"
COSTS = "Costs"
RUNBOOK = "(the runbook's own)"

KEYS: dict[str, tuple[str, ReadBy, str]] = {
    "name": (RUNBOOK, "both", "the deployment's name in reports and notifications"),
    "deployment.region": (RUNBOOK, "both", "the AWS region (the notifier's auth.lambda.toml)"),
    "deployment.phase": (
        TRIGGER,
        "both",
        "production | testing | setup: the rule's state and the function's minimum timeout",
    ),
    "variants.database": (DB, "both", "ec2 | aurora-serverless-v1 | aurora-serverless-v2"),
    "variants.egress": (EGRESS, "both", "eip | nat-gateway | nat-instance"),
    "variants.packaging": (REDEPLOY, "both", "zip | image"),
    "variants.access_host": (ACCESS, "both", "cloud9 | bastion | instance-connect-endpoint | ssm"),
    "iam.group": (IAM, "both", "the administration group"),
    "iam.user": (IAM, "both", "the administration user"),
    "iam.group_policies": (IAM, "both", "the AWS-managed policies the group holds, exactly"),
    "iam.ecr_policy": (
        REDEPLOY,
        "both",
        "the group's own ECR policy (image variant): the guide never names it; unset, the "
        "group's one customer-managed policy is taken, whatever its name; perform creates it "
        "with this name",
    ),
    "vpc.name": (VPC, "both", "the VPC's Name tag"),
    "vpc.cidr": (VPC, "both", "the VPC's IPv4 CIDR block"),
    "vpc.subnets": (
        VPC,
        "both",
        'the subnets by Name tag and CIDR; role "lambda" (the function runs there) or '
        '"public" (the NAT variants\' NAT)',
    ),
    "vpc.internet_gateway": (VPC, "perform", "the Name perform gives a new internet gateway"),
    "security_groups.database": (SG, "both", "the database's security group"),
    "security_groups.internet": (SG, "both", "the function's security group"),
    "database.instance_name": (DB, "both", "the database instance's Name tag (EC2)"),
    "database.allowed_instance_types": (DB, "verify", "instance types the check accepts"),
    "database.instance_type": (DB, "perform", "the type perform launches"),
    "database.root_volume_type": (DB, "both", "the root volume's type"),
    "database.root_volume_size_gb": (DB, "both", "the root volume's size"),
    "database.mysql_version": (ACCESS, "verify", "the MySQL server version on the host"),
    "database.cluster": (DB, "both", "the Aurora cluster identifier (Aurora variants)"),
    "database.subnet_group": (DB, "perform", "the DB subnet group perform creates (Aurora)"),
    "database.min_capacity": (DB, "both", "Aurora's minimum capacity"),
    "database.max_capacity": (DB, "both", "Aurora's maximum capacity"),
    "database.mysql_port": (SG, "both", "the MySQL port the groups and ACLs admit"),
    "database.mysql_databases": (ACCESS, "both", "the databases the notifier's user may use"),
    "database.mysql_user_host": (
        ACCESS,
        "both",
        "the host part of the notifier's MySQL user (the VPC's private range)",
    ),
    "access_host.cloud9_environment": (ACCESS, "both", "the Cloud9 environment's name"),
    "access_host.cloud9_instance_type": (ACCESS, "both", "the Cloud9 instance's type"),
    "access_host.bastion_name": (ACCESS, "both", "the bastion's Name tag (bastion variant)"),
    "access_host.bastion_instance_type": (ACCESS, "both", "the bastion's type"),
    "access_host.target_instance": (
        ACCESS,
        "both",
        "instance-connect-endpoint / ssm: the Name tag of the instance reached (unset: the "
        "database instance; required with Aurora)",
    ),
    "access_host.endpoint_name": (
        ACCESS,
        "perform",
        "the Name perform gives a new EC2 Instance Connect Endpoint",
    ),
    "access_host.endpoint_security_group": (
        ACCESS,
        "perform",
        "the security group perform makes for a new EC2 Instance Connect Endpoint",
    ),
    "access_host.session_manager_role": (
        ACCESS,
        "perform",
        "the role (and instance profile) perform gives the instance for Session Manager",
    ),
    "secret.name": (SECRET, "both", "the secret holding the notifier's credentials"),
    "secret.policy": (LAMBDA, "both", "the policy letting the function read the secret"),
    "lambda.function": (LAMBDA, "both", "the function: the anchor everything else follows"),
    "lambda.runtime": (LAMBDA, "both", "the runtime of a .zip function (today's: python3.13)"),
    "lambda.handler": (LAMBDA, "both", "the handler of a .zip function"),
    "lambda.memory_mb": (LAMBDA, "both", "the function's memory"),
    "lambda.role": (
        LAMBDA,
        "both",
        "the role perform creates and the checker's policy lets the egress probe pass; the "
        "checks judge the role the function has (the console's carries a random suffix: "
        "discover writes it here)",
    ),
    "lambda.reserved_concurrency": (LAMBDA, "both", "the function's reserved concurrency"),
    "lambda.required_actions": (
        LAMBDA,
        "both",
        "calls the function's own code makes that its role must allow, e.g. today's "
        "s3:PutObject of its log",
    ),
    "step_functions.state_machine": (
        SFN,
        "both",
        "the guide never names it: unset, it is the one the rule targets; set, an assertion",
    ),
    "step_functions.role": (
        SFN,
        "perform",
        "the role perform creates; verify judges the state machine's own role",
    ),
    "step_functions.max_tries": (SFN, "perform", "the waiting loop's bound in the definition"),
    "trigger.rule": (TRIGGER, "both", "the EventBridge rule"),
    "trigger.schedule": (TRIGGER, "both", "the rule's schedule expression"),
    "trigger.config_path": (TRIGGER, "both", "config_path in the rule's constant input"),
    "trigger.auth_path": (TRIGGER, "both", "auth_path in the rule's constant input"),
    "trigger.role": (
        TRIGGER,
        "perform",
        "the role perform creates; verify judges the role the rule's target has",
    ),
    "egress.nat_gateway_name": (EGRESS, "perform", "the Name perform gives a NAT gateway"),
    "egress.nat_instance_name": (EGRESS, "both", "the NAT instance's Name tag"),
    "redeployment.ecr_repository": (
        REDEPLOY,
        "both",
        "the guide never names it: unset, it is the repository of the function's image; set, "
        "an assertion",
    ),
    "redeployment.image_tag": (REDEPLOY, "both", "the tag redeployment pushes and deploys"),
    "redeployment.zip_path": (REDEPLOY, "both", "the local lambda.zip (zip variant)"),
    "costs.budget_usd_month": (COSTS, "verify", "the monthly budget the estimate must fit"),
    "costs.hours_per_month": (COSTS, "verify", "hours in a month"),
    "costs.database_hours_per_month": (COSTS, "verify", "hours the database runs a month"),
    "costs.instance_hour": (COSTS, "verify", "USD per instance hour, by type"),
    "costs.unlimited_vcpu_hour": (COSTS, "verify", "USD per vCPU hour of T-unlimited"),
    "costs.gp3_gb_month": (COSTS, "verify", "USD per gp3 GB-month"),
    "costs.nat_gateway_hour": (COSTS, "verify", "USD per NAT gateway hour"),
    "costs.idle_eip_hour": (COSTS, "verify", "USD per idle Elastic IP hour"),
    "costs.instance_vcpus": (COSTS, "verify", "vCPUs by instance type"),
    "costs.aurora_acu_hour": (COSTS, "verify", "USD per Aurora capacity unit hour"),
    "costs.aurora_active_hours_per_month": (COSTS, "verify", "hours Aurora is active a month"),
    "timeouts.connect_s": (RUNBOOK, "both", "AWS connect timeout per attempt"),
    "timeouts.read_s": (RUNBOOK, "both", "AWS read timeout per attempt"),
    "timeouts.max_attempts": (RUNBOOK, "both", "attempts per AWS call, retries included"),
    "timeouts.run_s": (RUNBOOK, "both", "the whole run's budget"),
    "hosts.ssh_config": (ACCESS, "verify", "the SSH config naming the hosts"),
    "hosts.user": (ACCESS, "verify", "the SSH user"),
    "hosts.database_host": (ACCESS, "verify", "the database host's SSH destination"),
    "hosts.access_host": (ACCESS, "verify", "the access host's SSH destination"),
    "hosts.mysql_package": (ACCESS, "verify", "the MySQL server package on the host"),
    "hosts.mysql_service": (ACCESS, "verify", "the MySQL service on the host"),
    "hosts.timeout_s": (ACCESS, "both", "SSH and MySQL timeout"),
    "hosts.start_wait_s": (ACCESS, "verify", "how long a started instance may take to answer"),
    "hosts.address_map": (ACCESS, "verify", "addresses actually dialled (the lab's loopback)"),
    "operations.lookback_hours": (RUNBOOK, "verify", "the nightly run's window"),
    "operations.duration_headroom": (RUNBOOK, "verify", "the share of the timeout kept free"),
    "operations.start_within_s": (RUNBOOK, "verify", "how late an hourly run may start"),
    "operations.log_group": (RUNBOOK, "verify", "the function's log group, if not the default"),
    "operations.finished_message": (RUNBOOK, "verify", "the log line of a finished run"),
    "operations.timeout_message": (RUNBOOK, "verify", "the log line of a timed-out run"),
    "history.runs": (RUNBOOK, "both", "the window for flapping"),
    "history.flapping_changes": (RUNBOOK, "both", "changes within it that make a check flap"),
    "notify.sns_topic": (RUNBOOK, "both", "where a change of health is announced"),
    "notify.webhook_env": (RUNBOOK, "both", "the variable holding a Slack-style webhook URL"),
    "probe.enabled": (EGRESS, "verify", "run the active egress probe"),
    "probe.timeout_s": (EGRESS, "verify", "the probe's whole budget"),
    "probe.url": (EGRESS, "verify", "the URL answering the caller's public IP"),
    "probe.name_prefix": (EGRESS, "verify", "the probe function's name prefix"),
    "waivers.file": (RUNBOOK, "both", "the waivers file, relative to the profile"),
}


def model_keys(model: type[BaseModel] = Profile, prefix: str = "") -> dict[str, Any]:
    """Every key of the profile with its default, as a person writes it (``lambda.role``)."""
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        key = prefix + (field.alias or name)
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            out.update(model_keys(kind, key + "."))
        else:
            out[key] = field.get_default(call_default_factory=True)
    return out


def perform_only_set(profile: Profile) -> list[str]:
    """The keys the profile sets that only perform reads: a verify does not judge them."""
    return [k for k, (_, by, _) in KEYS.items() if by == "perform" and profile.given(k)]


def markdown() -> str:
    """docs/profile.md (kept equal to this by a test)."""
    defaults = model_keys()
    lines = [
        "# The profile's keys",
        "",
        "Every key a profile may set, its default, the guide step it comes from, and which mode "
        "reads it. Generated by `notifier-runbook keys --markdown`.",
        "",
        "- **Names the guide never gives** (the state machine, the ECR repository, the group's "
        "ECR policy, the roles) are not guessed: left unset, verify follows AWS's own "
        "relationships to them (the rule's target, the function's image URI, the function's, "
        "state machine's and target's roles). Set one and it becomes an assertion: a mismatch "
        'says `found X where the profile says Y: set <key> = "X" or rename the resource`.',
        "- **read by perform** only: a verify does not judge the key, and says so once when "
        "the profile sets it.",
        "- `notifier-runbook discover --out FILE` writes a profile of an existing deployment "
        "from its function.",
        "",
        "| key | default | guide step | read by | meaning |",
        "|---|---|---|---|---|",
    ]
    for key, (step, by, meaning) in KEYS.items():
        meaning = meaning.replace("|", "\\|")
        lines.append(f"| `{key}` | {_shown(defaults[key])} | {step} | {by} | {meaning} |")
    return "\n".join(lines) + "\n"


def _shown(value: Any) -> str:
    if isinstance(value, BaseModel):
        return "`" + str(value.model_dump()) + "`"
    if isinstance(value, tuple | list) and value and isinstance(value[0], BaseModel):
        return "`" + str([v.model_dump() for v in value]) + "`"
    text = "(none)" if value is None else repr(value) if not isinstance(value, str) else value
    if len(text) > 60:
        text = text[:57] + "..."
    return f"`{text}`".replace("|", "\\|")
