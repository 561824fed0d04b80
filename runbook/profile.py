"""The profile: what the deployment should be, read from a TOML file and validated.

Every name and value the guide uses is a default here, so the notifier's own profile is
short; errors name the file, the key and what was expected, in one line.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import botocore.loaders
from botocore.regions import EndpointResolver
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from runbook.errors import UsageError
from runbook.tomlfile import read_toml

GUIDE_GROUP_POLICIES = (
    "AmazonRDSFullAccess",
    "SecretsManagerReadWrite",
    "AmazonEventBridgeFullAccess",
    "AWSLambda_FullAccess",
    "AmazonVPCFullAccess",
    "AWSCloud9Administrator",
    "AmazonEC2FullAccess",
)
SECRET_KEYS = (
    "wikidot_password",
    "gmail_password",
    "mysql_host",
    "mysql_username",
    "mysql_password",
)


@functools.cache
def botocore_loader() -> botocore.loaders.Loader:
    """botocore's data (its endpoints, the service models), each file read and parsed once per
    process: by the profile's region check and by every AWS session (they are large)."""
    return botocore.loaders.create_loader()


@functools.cache
def _endpoints() -> EndpointResolver:
    """botocore's endpoint data (kept current upstream), read without the user's AWS config:
    a broken config or an unknown AWS_PROFILE is the preflight's to report, in one line."""
    return EndpointResolver(botocore_loader().load_data("endpoints"))


@functools.cache
def known_regions() -> frozenset[str]:
    """EC2's regions in every partition."""
    resolver = _endpoints()
    return frozenset(
        region
        for partition in resolver.get_available_partitions()
        for region in resolver.get_available_endpoints("ec2", partition)
    )


def partition_of(region: str) -> str:
    """The ARN partition of a region (aws, aws-cn, aws-us-gov, ...)."""
    return _endpoints().get_partition_for_region(region)


class _Strict(BaseModel):
    # inf and nan are no numbers a profile means: a time-out of inf waits for ever.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError(f"not an IPv4 CIDR block ({exc})") from None


Cidr = Annotated[str, AfterValidator(_cidr)]


def _named(what: str, pattern: str, rule: str) -> AfterValidator:
    """A name AWS restricts, checked here: it goes into ARNs and the checker's policy, where
    a ``*`` or ``?`` would widen what the policy grants."""
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid {what} ({rule})")
        return value

    return AfterValidator(check)


# AWS's own character rules for each kind of name.
IamName = Annotated[
    str, _named("IAM name", r"[\w+=,.@-]{1,64}", "letters, digits and +=,.@_- only, 1-64")
]
IamPolicyName = Annotated[
    str, _named("IAM name", r"[\w+=,.@-]{1,128}", "letters, digits and +=,.@_- only, 1-128")
]
SecretName = Annotated[
    str,
    _named("secret name", r"[A-Za-z0-9/_+=.@-]{1,512}", "letters, digits and /_+=.@- only"),
]
FunctionName = Annotated[
    str, _named("Lambda function name", r"[A-Za-z0-9_-]{1,64}", "letters, digits, - and _, 1-64")
]
ProbePrefix = Annotated[
    str, _named("Lambda name prefix", r"[A-Za-z0-9_-]{1,55}", "letters, digits, - and _, 1-55")
]
StateMachineName = Annotated[
    str,
    _named(
        "state machine name",
        r"[^\s<>{}\[\]?*\"#%\\^|~`$&,;:/]{1,80}",
        "1-80 characters, no blanks, wildcards, brackets or punctuation",
    ),
]
RuleName = Annotated[
    str, _named("EventBridge rule name", r"[.\-_A-Za-z0-9]{1,64}", "letters, digits and ._-")
]
RepositoryName = Annotated[
    str,
    _named(
        "ECR repository name",
        r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*",
        "lower case letters, digits and ._-/",
    ),
]
TopicName = Annotated[
    str,
    _named(
        "SNS topic name or ARN",
        r"(arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:)?[A-Za-z0-9_-]{1,256}(\.fifo)?",
        "letters, digits, - and _, or the topic's ARN",
    ),
]


class Deployment(_Strict):
    region: str = "eu-west-2"
    phase: Literal["production", "testing", "setup"] = "production"

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value not in known_regions():
            raise ValueError(f"unknown AWS region {value!r} (e.g. eu-west-2)")
        return value


class Variants(_Strict):
    database: Literal["ec2", "aurora-serverless-v1", "aurora-serverless-v2"] = "ec2"
    egress: Literal["eip", "nat-gateway", "nat-instance"] = "eip"
    packaging: Literal["zip", "image"] = "image"
    # Cloud9 is closed to new AWS customers (July 2024): today's ways in are an EC2 Instance
    # Connect Endpoint or Session Manager, both reaching an instance inside the VPC.
    access_host: Literal["cloud9", "bastion", "instance-connect-endpoint", "ssm"] = "cloud9"

    @property
    def aurora(self) -> bool:
        return self.database.startswith("aurora")


class Iam(_Strict):
    group: IamPolicyName = "WikidotNotifierAdministration"
    user: IamName = "WikidotNotifierAdmin"
    group_policies: tuple[str, ...] = GUIDE_GROUP_POLICIES
    # The guide's ECR policy for the image variant is customer-managed and unnamed.
    ecr_policy: IamPolicyName = "WikidotNotifierECRAccess"


class Subnet(_Strict):
    name: str
    cidr: Cidr
    # "lambda": the function runs here; "public": only for the NAT of the NAT variants.
    role: Literal["lambda", "public"] = "lambda"


class Vpc(_Strict):
    name: str = "WikidotNotifierVPC"
    cidr: Cidr = "10.0.0.0/16"
    subnets: tuple[Subnet, ...] = (
        Subnet(name="Public subnet", cidr="10.0.0.0/24"),
        Subnet(name="Public subnet 2", cidr="10.0.1.0/24"),
    )
    internet_gateway: str = "WikidotNotifierIGW"

    @property
    def lambda_subnets(self) -> tuple[Subnet, ...]:
        return tuple(s for s in self.subnets if s.role == "lambda")

    @field_validator("subnets")
    @classmethod
    def _two_subnets(cls, value: tuple[Subnet, ...]) -> tuple[Subnet, ...]:
        if sum(s.role == "lambda" for s in value) < 2:
            raise ValueError(
                "at least two Lambda subnets are required (the guide's 'Adding another subnet')"
            )
        return value


class SecurityGroups(_Strict):
    database: str = "WikidotNotifierDatabaseSecurityGroup"
    # The guide also says WikidotNotifierAccessToInternet once: the profile decides.
    internet: str = "WikidotNotifierLambdaAccessToInternet"


class Database(_Strict):
    instance_name: str = "WDNotifier MySQL database"
    allowed_instance_types: tuple[str, ...] = ("t3.nano", "t4g.nano", "c6g.medium")
    instance_type: str = "t3.nano"
    root_volume_type: str = "gp3"
    root_volume_size_gb: int = Field(default=8, gt=0)
    mysql_version: str = "8.0.33"
    cluster: str = "wikidotnotifierbdcluster"
    subnet_group: str = "wikidotnotifier-subnets"
    min_capacity: float = Field(default=1, ge=0)
    max_capacity: float = Field(default=1, gt=0)
    mysql_port: int = Field(default=3306, gt=0, lt=65536)
    mysql_databases: tuple[str, ...] = ("wikidot_notifier", "wikidot_notifier_test")
    # notifier-database.md: the user may connect from the VPC's private network only.
    mysql_user_host: str = "10.0.0.0/255.0.0.0"


class AccessHost(_Strict):
    cloud9_environment: str = "WikidotNotifierAccess"
    cloud9_instance_type: str = "t3a.nano"
    bastion_name: str = "WikidotNotifierBastion"
    bastion_instance_type: str = "t3a.nano"
    # instance-connect-endpoint and ssm: the Name tag of the instance they reach; unset, the
    # database instance itself (EC2 variant: MySQL is on it).
    target_instance: str | None = None
    endpoint_name: str = "WikidotNotifierAccessEndpoint"
    endpoint_security_group: str = "WikidotNotifierAccessEndpointSecurityGroup"
    session_manager_role: IamName = "WikidotNotifierSessionManagerRole"


class Secret(_Strict):
    name: SecretName = "WikidotNotifier/auth"
    policy: IamPolicyName = "WikidotNotifierLambdaAccessToAuthSecret"


class RequiredAction(_Strict):
    """A call the function's own code makes, which its role must allow (checked by IAM's
    evaluation): e.g. today's notifier writes its log to S3 on every run."""

    action: str = Field(pattern=r"^[a-z0-9-]+:[A-Za-z0-9*?]+$")  # service:Action
    resource: str = Field(pattern=r"^(\*|arn:[^\s]+)$")  # an ARN (wildcards allowed) or "*"


class LambdaFunction(_Strict):
    function: FunctionName = "WikidotNotifier"
    runtime: str = "python3.8"
    handler: str = "lambda_function.lambda_handler"
    memory_mb: int = Field(default=200, ge=128)
    role: IamName = "WikidotNotifier-role"
    reserved_concurrency: int = 1
    required_actions: tuple[RequiredAction, ...] = ()


class StepFunctions(_Strict):
    state_machine: StateMachineName = "WikidotNotifierDatabaseStartStop"
    role: IamName = "WikidotNotifierStepFunctionsRole"
    max_tries: int = Field(default=10, gt=0)


class Trigger(_Strict):
    rule: RuleName = "WikidotNotifierExecutor"
    schedule: str = "cron(0 * * * ? *)"
    config_path: str = "config/config.toml"
    auth_path: str = "config/auth.lambda.toml"
    role: IamName = "WikidotNotifierEventBridgeRole"


class Egress(_Strict):
    nat_gateway_name: str = "WikidotNotifierNAT"
    nat_instance_name: str = "WikidotNotifierNATInstance"


class Redeployment(_Strict):
    ecr_repository: RepositoryName = "notifier"
    image_tag: str = "latest"
    zip_path: str | None = None


class Costs(_Strict):
    budget_usd_month: float = Field(default=15.0, gt=0)
    hours_per_month: float = 730
    database_hours_per_month: float = Field(default=730 / 4, ge=0)
    # USD per hour unless the name says otherwise; the guide's figures (2023).
    instance_hour: dict[str, float] = Field(
        default_factory=lambda: {
            "t3.nano": 0.0059,
            "t4g.nano": 0.0047,
            "t3a.nano": 0.0047,
            "c6g.medium": 0.0404,
            "c6a.large": 0.0909,
        }
    )
    unlimited_vcpu_hour: float = 0.04
    gp3_gb_month: float = 0.024  # the guide's $0.19 for 8 GB
    nat_gateway_hour: float = 0.05
    idle_eip_hour: float = 0.005
    instance_vcpus: dict[str, int] = Field(
        default_factory=lambda: {"t3.nano": 2, "t4g.nano": 2, "t3a.nano": 2, "c6g.medium": 1}
    )
    aurora_acu_hour: float = 0.072
    aurora_active_hours_per_month: float = 730 / 3


class Hosts(_Strict):
    """How the checks reach the database host and the access host over SSH.

    A host is named by its SSH destination (an alias of the SSH config, whose HostName, User,
    Port, IdentityFile, ProxyJump and UserKnownHostsFile are honoured) or, by default, by the
    instance's private IP address.
    """

    ssh_config: str = "~/.ssh/config"  # $RUNBOOK_SSH_CONFIG overrides
    user: str = "ec2-user"
    database_host: str | None = None
    access_host: str | None = None
    mysql_package: str = "mysql-community-server"
    mysql_service: str = "mysqld"
    timeout_s: float = Field(default=10, gt=0)
    # With --start-database: how long the stopped instance may take to answer over SSH.
    start_wait_s: float = Field(default=300, gt=0)
    # "host:port" (glob patterns allowed) -> "host:port" actually dialled. Read by the host
    # connector only, for SSH and for tunnels: the lab maps the VPC's addresses to loopback.
    address_map: dict[str, str] = Field(default_factory=dict)

    @field_validator("address_map")
    @classmethod
    def _host_port(cls, value: dict[str, str]) -> dict[str, str]:
        for key, target in value.items():
            host, _, port = target.rpartition(":")
            if not host or not port.isdigit() or ":" not in key:
                raise ValueError(f'{key!r} = {target!r}: expected "host:port" = "host:port"')
        return value


class Timeouts(_Strict):
    """How long AWS may take: per attempt, attempts per call (retries included), whole run.

    Once a run has used ``run_s``, every check not yet made ends in *error* without calling
    AWS; a check already under way still finishes its calls, each within
    ``max_attempts`` x (``connect_s`` + ``read_s``) plus back-off. The default leaves room for
    ``--start-database`` and for perform's waits (a NAT gateway takes minutes).
    """

    connect_s: float = Field(default=5, gt=0)
    read_s: float = Field(default=20, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    run_s: float = Field(default=1800, gt=0)


class Operations(_Strict):
    """What the nightly run reads of the last hours' operation (the guide's hourly cycle)."""

    lookback_hours: int = Field(default=24, gt=0, le=24 * 14)  # --lookback-hours overrides
    # The longest run must stay below (1 - duration_headroom) x the function's timeout.
    duration_headroom: float = Field(default=0.2, ge=0, lt=1)
    # An hour's execution must start within this many seconds of the hour.
    start_within_s: int = Field(default=60, gt=0, le=3600)
    log_group: str | None = None  # default /aws/lambda/<function>
    finished_message: str = "Lambda finished"
    timeout_message: str = "Task timed out"


class History(_Strict):
    """The run history under the reports directory: how far back a check's changes count."""

    runs: int = Field(default=10, ge=2)  # the window for flapping
    flapping_changes: int = Field(default=3, ge=2)  # changes within it that make a check flap


class Notify(_Strict):
    """Where a change of health is announced (nothing when nothing changed)."""

    sns_topic: TopicName | None = None  # a topic name (in the profile's region) or ARN
    webhook_env: str = "RUNBOOK_WEBHOOK_URL"  # the variable holding a Slack-style webhook URL


class Probe(_Strict):
    """The opt-in active egress probe (``--probe-egress``): a function made, invoked, deleted."""

    enabled: bool = False
    timeout_s: float = Field(default=120, gt=0, le=900)  # the whole probe, creation to deletion
    url: str = "https://checkip.amazonaws.com"  # answers the caller's public IP as text
    name_prefix: ProbePrefix = "notifier-runbook-egress-probe"


class ProfileWaivers(_Strict):
    """Where the waivers of this deployment are (a TOML file, relative to the profile)."""

    file: str | None = None


class Profile(_Strict):
    """A whole deployment: every section of the guide with its defaults."""

    name: str = "notifier"
    deployment: Deployment = Deployment()
    variants: Variants = Variants()
    iam: Iam = Iam()
    vpc: Vpc = Vpc()
    security_groups: SecurityGroups = SecurityGroups()
    database: Database = Database()
    access_host: AccessHost = AccessHost()
    secret: Secret = Secret()
    function: LambdaFunction = Field(default=LambdaFunction(), alias="lambda")
    step_functions: StepFunctions = StepFunctions()
    trigger: Trigger = Trigger()
    egress: Egress = Egress()
    redeployment: Redeployment = Redeployment()
    costs: Costs = Costs()
    timeouts: Timeouts = Timeouts()
    hosts: Hosts = Hosts()
    operations: Operations = Operations()
    history: History = History()
    notify: Notify = Notify()
    probe: Probe = Probe()
    waivers: ProfileWaivers = ProfileWaivers()
    source: str = Field(default="<defaults>", exclude=True)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _subnets_in_vpc(self) -> Profile:
        vpc = ipaddress.ip_network(self.vpc.cidr)
        nets = [ipaddress.ip_network(s.cidr) for s in self.vpc.subnets]
        for subnet, net in zip(self.vpc.subnets, nets, strict=True):
            if not net.subnet_of(vpc):  # type: ignore[arg-type]
                raise ValueError(
                    f"vpc.subnets: {subnet.cidr} is not inside the VPC's {self.vpc.cidr}"
                )
        for i, a in enumerate(nets):
            for b in nets[i + 1 :]:
                if a.overlaps(b):
                    raise ValueError(f"vpc.subnets: {a} overlaps {b}")
        return self

    @model_validator(mode="after")
    def _nat_needs_public_subnet(self) -> Profile:
        public = [s for s in self.vpc.subnets if s.role == "public"]
        if self.variants.egress != "eip" and not public:
            raise ValueError(
                f'vpc.subnets: egress {self.variants.egress} needs a subnet with role = "public"'
            )
        return self

    @model_validator(mode="after")
    def _access_instance_known(self) -> Profile:
        tunnelled = self.variants.access_host in ("instance-connect-endpoint", "ssm")
        if tunnelled and self.variants.aurora and not self.access_host.target_instance:
            raise ValueError(
                f"access_host.target_instance: access host {self.variants.access_host} with "
                "an Aurora database needs the Name tag of the instance in the VPC it reaches"
            )
        return self

    @property
    def region(self) -> str:
        return self.deployment.region

    def given(self, key: str) -> bool:
        """Whether the profile's file sets ``section.key`` itself: a name the guide never
        gives is then an assertion about the deployment, not a default to look for."""
        section, _, name = key.partition(".")
        if not name:
            return section in self.model_fields_set
        table = getattr(self, "function" if section == "lambda" else section)
        return name in table.model_fields_set

    @property
    def min_timeout_s(self) -> int:
        """The guide: about 20 s while testing, at least 5 minutes in production."""
        return 300 if self.deployment.phase == "production" else 20

    @property
    def expected_rule_state(self) -> str:
        return "DISABLED" if self.deployment.phase == "setup" else "ENABLED"


def load_profile(
    path: str | Path, overrides: dict[str, Any] | None = None, said: str | None = None
) -> Profile:
    """Read and validate a profile; any problem becomes a one-line UsageError. ``overrides``
    (a fleet's deployment) are merged over the file's tables before validation, and a problem
    is then said of ``said`` (where they were written)."""
    path = Path(path)
    data = merged(read_toml(path, "profile", "--profile"), overrides or {})
    where = f"{said} ({path} with its overrides)" if overrides and said else str(path)
    try:
        _relative_to(path.parent.resolve(), data)
        profile = Profile.model_validate({**data, "source": str(path)})
    except RecursionError:  # validation recurses once per level
        raise UsageError(f"{where}: nested too deeply to be a profile") from None
    except ValidationError as exc:
        raise UsageError(f"{where}: {_first_error(exc)}") from None
    _local_files_readable(path, profile)
    return profile


def merged(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``data`` with ``overrides`` laid over it, table by table (a value replaces a value)."""
    out = dict(data)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def _local_files_readable(source: Path, profile: Profile) -> None:
    """A file the profile names that is there but cannot be read (a directory, a broken link)
    is a typo: refused now rather than met by one check (zip) or silently ignored (SSH).
    A file not there at all is left to the check that needs it."""
    named = {"redeployment.zip_path": profile.redeployment.zip_path}
    if "ssh_config" in profile.hosts.model_fields_set:
        named["hosts.ssh_config"] = os.path.expanduser(profile.hosts.ssh_config)
    for key, value in named.items():
        why = _unreadable(value) if value and os.path.lexists(value) else None
        if why:
            raise UsageError(
                f"{source}: key '{key}': {value} is {why}; point it at a readable file"
            )


def _unreadable(path: str) -> str | None:
    """Why ``path``, which exists as a name, cannot be read as a file (None if it can)."""
    if not os.path.exists(path):
        return "a broken symbolic link"
    if os.path.isdir(path):
        return "a directory"
    if not os.path.isfile(path):
        return "not a regular file"
    return None if os.access(path, os.R_OK) else "not readable"


def _relative_to(folder: Path, data: dict) -> None:
    """Local files a profile names are relative to the profile, not to where it is run."""
    for section, key in (("redeployment", "zip_path"), ("waivers", "file")):
        table = data.get(section)
        if isinstance(table, dict) and isinstance(table.get(key), str):
            table[key] = str(folder / Path(table[key]).expanduser())


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    message = err["msg"].removeprefix("Value error, ")
    if not err["loc"]:
        return message
    if err["type"] == "extra_forbidden":
        message = "unknown key (check the spelling against profiles/notifier.toml)"
    elif err["type"] == "literal_error":
        message = f"expected {err['ctx']['expected']}, got {err['input']!r}"
    key = ".".join(str(p) for p in err["loc"])
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"key '{key}': {message}{more}"
