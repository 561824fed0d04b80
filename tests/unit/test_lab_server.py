"""The lab's moto server: start/stop through runbook.lab.control, and its lab-only patches.

The patches are checked the way the project's checks see them: through boto3 against the server.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from runbook.lab import control

pytestmark = pytest.mark.lab

REGION = "eu-west-2"
LAMBDA_VPC_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"

Client = Callable[[str], Any]


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lab")


@pytest.fixture(scope="module")
def lab(state_dir: Path) -> Iterator[str]:
    """One server for the module (a start costs about two seconds), always stopped."""
    try:
        yield control.start(state_dir)
    finally:
        control.stop(state_dir)


@pytest.fixture(scope="module")
def aws(lab: str) -> Client:
    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=lab,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return client


@pytest.fixture
def subnet_id(aws: Client) -> str:
    ec2 = aws("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    return ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]


def lab_processes(state_dir: Path) -> list[int]:
    """Pids of lab servers for ``state_dir``, whoever started them."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            arguments = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if control.SERVER_MODULE.encode() in arguments and str(state_dir).encode() in arguments:
            pids.append(int(cmdline.parent.name))
    return pids


def test_started_server_answers_with_aws_managed_policies(lab: str, aws: Client) -> None:
    assert lab.startswith("http://127.0.0.1:")
    assert control.answers(lab)
    iam = aws("iam")
    assert iam.get_policy(PolicyArn=LAMBDA_VPC_POLICY)["Policy"]["Arn"] == LAMBDA_VPC_POLICY
    assert iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AmazonEC2FullAccess")


def test_second_start_reuses_the_running_server(lab: str, state_dir: Path) -> None:
    pid = int((state_dir / control.PID_FILE).read_text())

    assert control.start(state_dir) == lab
    assert control.endpoint(state_dir) == lab
    assert lab_processes(state_dir) == [pid]


def test_stop_ends_the_server_and_frees_the_port(tmp_path: Path) -> None:
    url = control.start(tmp_path)
    pid = int((tmp_path / control.PID_FILE).read_text())
    port = int(url.rsplit(":", 1)[1])

    assert control.stop(tmp_path) is True

    assert not Path(f"/proc/{pid}").exists()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((control.HOST, port), timeout=2).close()
    assert not (tmp_path / control.PID_FILE).exists()
    assert control.endpoint(tmp_path) is None
    assert control.stop(tmp_path) is False


def test_stop_never_signals_a_process_that_is_not_the_lab(tmp_path: Path) -> None:
    (tmp_path / control.PID_FILE).write_text(f"{os.getpid()}\n")

    assert control.stop(tmp_path) is False
    assert not (tmp_path / control.PID_FILE).exists()


def test_failed_start_names_the_log_and_leaves_nothing_running(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind((control.HOST, 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(control.LabError, match=r"moto\.log"):
            control.start(tmp_path, port=port)

    assert lab_processes(tmp_path) == []
    assert not (tmp_path / control.PID_FILE).exists()


def test_reset_wipes_resources_but_keeps_the_lab_settings(lab: str, aws: Client) -> None:
    ec2 = aws("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    control.set_config(lab, {"lambda": {"use_docker": False}})

    control.reset(lab)

    assert vpc_id not in [vpc["VpcId"] for vpc in ec2.describe_vpcs()["Vpcs"]]
    assert aws("iam").get_policy(PolicyArn=LAMBDA_VPC_POLICY)
    with urllib.request.urlopen(f"{lab}/moto-api/config", timeout=5) as response:
        assert json.load(response)["lambda"] == {"use_docker": False}


def test_lambda_eni_is_reported_requester_managed(aws: Client, subnet_id: str) -> None:
    ec2 = aws("ec2")
    description = f"AWS Lambda VPC ENI-WikidotNotifier-{uuid.uuid4()}"
    lambda_eni = ec2.create_network_interface(SubnetId=subnet_id, Description=description)
    plain_eni = ec2.create_network_interface(SubnetId=subnet_id, Description="plain")
    ids = [eni["NetworkInterface"]["NetworkInterfaceId"] for eni in (lambda_eni, plain_eni)]

    described = {
        eni["NetworkInterfaceId"]: eni
        for eni in ec2.describe_network_interfaces(NetworkInterfaceIds=ids)["NetworkInterfaces"]
    }

    assert described[ids[0]]["InterfaceType"] == "lambda"
    assert described[ids[0]]["RequesterManaged"] is True
    assert described[ids[0]]["RequesterId"].startswith("AROA")
    assert described[ids[0]]["RequesterId"].endswith(":WikidotNotifier")
    assert described[ids[1]]["InterfaceType"] == "interface"
    assert described[ids[1]]["RequesterManaged"] is False
    managed = ec2.describe_network_interfaces(
        Filters=[{"Name": "requester-managed", "Values": ["true"]}]
    )["NetworkInterfaces"]
    assert [eni["NetworkInterfaceId"] for eni in managed] == [ids[0]]


def test_cpu_credit_option_is_remembered_and_modifiable(aws: Client, subnet_id: str) -> None:
    ec2 = aws("ec2")

    def launch(**extra: Any) -> str:
        # moto does not validate AMI ids by default, and listing its AMIs takes seconds.
        instances = ec2.run_instances(
            ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1, InstanceType="t3.nano", **extra
        )["Instances"]
        return str(instances[0]["InstanceId"])

    def credits(*instance_ids: str) -> list[str]:
        specifications = ec2.describe_instance_credit_specifications(
            InstanceIds=list(instance_ids)
        )["InstanceCreditSpecifications"]
        return [specification["CpuCredits"] for specification in specifications]

    unlimited = launch(SubnetId=subnet_id, CreditSpecification={"CpuCredits": "unlimited"})
    standard = launch(SubnetId=subnet_id)
    assert credits(unlimited, standard) == ["unlimited", "standard"]

    missing = "i-0123456789abcdef0"
    answer = ec2.modify_instance_credit_specification(
        InstanceCreditSpecifications=[
            {"InstanceId": standard, "CpuCredits": "unlimited"},
            {"InstanceId": missing, "CpuCredits": "unlimited"},
        ]
    )
    assert answer["SuccessfulInstanceCreditSpecifications"] == [{"InstanceId": standard}]
    assert answer["UnsuccessfulInstanceCreditSpecifications"][0]["InstanceId"] == missing
    assert credits(standard) == ["unlimited"]


def _push_image(ecr: Any, repository: str, seed: str) -> str:
    """Push a distinct Docker v2 manifest under ``latest``; return ECR's digest for it."""

    def sha(text: str) -> str:
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 1000,
            "digest": sha(f"config-{seed}"),
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": 2000,
                "digest": sha(f"layer-{seed}"),
            }
        ],
    }
    image = ecr.put_image(
        repositoryName=repository, imageManifest=json.dumps(manifest), imageTag="latest"
    )
    return str(image["image"]["imageId"]["imageDigest"])


def test_image_function_resolves_the_tag_to_the_ecr_digest(aws: Client) -> None:
    ecr, lambda_ = aws("ecr"), aws("lambda")
    repository_uri = ecr.create_repository(repositoryName="wikidot-notifier")["repository"][
        "repositoryUri"
    ]
    first = _push_image(ecr, "wikidot-notifier", "first")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = aws("iam").create_role(RoleName="notifier", AssumeRolePolicyDocument=json.dumps(trust))
    image_uri = f"{repository_uri}:latest"
    lambda_.create_function(
        FunctionName="WikidotNotifier",
        Role=role["Role"]["Arn"],
        PackageType="Image",
        Code={"ImageUri": image_uri},
    )

    def resolved() -> str:
        return str(lambda_.get_function(FunctionName="WikidotNotifier")["Code"]["ResolvedImageUri"])

    assert resolved() == f"{repository_uri}@{first}"
    configuration = lambda_.get_function_configuration(FunctionName="WikidotNotifier")
    assert f"sha256:{configuration['CodeSha256']}" == first

    second = _push_image(ecr, "wikidot-notifier", "second")
    assert resolved() == f"{repository_uri}@{first}"  # pushed, not yet deployed
    lambda_.update_function_code(FunctionName="WikidotNotifier", ImageUri=image_uri)
    assert resolved() == f"{repository_uri}@{second}"

    lambda_.update_function_code(
        FunctionName="WikidotNotifier", ImageUri=f"{repository_uri}@{first}"
    )
    assert resolved() == f"{repository_uri}@{first}"


def test_a_push_moves_the_tag_and_keeps_the_image_that_held_it(aws: Client) -> None:
    ecr = aws("ecr")
    ecr.create_repository(repositoryName="moved")
    first = _push_image(ecr, "moved", "first")
    second = _push_image(ecr, "moved", "second")
    images = {
        d["imageDigest"]: d.get("imageTags", [])
        for d in ecr.describe_images(repositoryName="moved")["imageDetails"]
    }
    assert images == {first: [], second: ["latest"]}  # as ECR: the old image, untagged
    kept = ecr.describe_images(repositoryName="moved", imageIds=[{"imageDigest": first}])
    assert kept["imageDetails"][0]["imageDigest"] == first


def test_an_immutable_tag_refuses_the_push_and_keeps_its_image(aws: Client) -> None:
    ecr = aws("ecr")
    ecr.create_repository(repositoryName="fixed", imageTagMutability="IMMUTABLE")
    first = _push_image(ecr, "fixed", "first")
    with pytest.raises(ClientError) as refused:
        _push_image(ecr, "fixed", "second")
    # ECR answers ImageTagAlreadyExistsException; moto its ImageAlreadyExistsException
    assert refused.value.response["Error"]["Code"].endswith("AlreadyExistsException")
    images = {
        d["imageDigest"]: d.get("imageTags", [])
        for d in ecr.describe_images(repositoryName="fixed")["imageDetails"]
    }
    assert images == {first: ["latest"]}


def test_event_invoke_config_is_replaced_by_put_and_merged_by_update(aws: Client) -> None:
    lambda_ = aws("lambda")
    role = aws("iam").create_role(
        RoleName="invoke-config",
        AssumeRolePolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:*"}]}
        ),
    )["Role"]["Arn"]
    lambda_.create_function(
        FunctionName="invoke-config",
        Role=role,
        Runtime="python3.12",
        Handler="x.h",
        Code={"ZipFile": _zip()},
    )

    def read() -> dict[str, Any]:
        got = lambda_.get_function_event_invoke_config(FunctionName="invoke-config")
        return {k: got.get(k) for k in ("MaximumRetryAttempts", "DestinationConfig")}

    lambda_.put_function_event_invoke_config(FunctionName="invoke-config", MaximumRetryAttempts=0)
    lambda_.put_function_event_invoke_config(FunctionName="invoke-config", MaximumRetryAttempts=2)
    assert read() == {"MaximumRetryAttempts": 2, "DestinationConfig": None}
    target = {"OnFailure": {"Destination": "arn:aws:sqs:eu-west-2:123456789012:q"}}
    lambda_.update_function_event_invoke_config(
        FunctionName="invoke-config", DestinationConfig=target
    )
    assert read() == {"MaximumRetryAttempts": 2, "DestinationConfig": target}


def _zip() -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("x.py", "def h(event, context):\n    return None\n")
    return buf.getvalue()


def test_iam_simulation_answers_as_aws_does(aws: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """SimulatePrincipalPolicy (not in moto): identity policies, managed ones, a boundary, an
    explicit deny scoped to one resource, NotAction, conditions unsimulated, as the collector
    reads it."""
    from runbook.aws.inventory import Inventory
    from runbook.aws.session import open_session

    iam = aws("iam")
    trust = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
    name = f"sim-{uuid.uuid4().hex[:8]}"
    role = iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{**trust, "Action": "sts:AssumeRole"}]}
        ),
    )["Role"]["Arn"]
    one, two = (f"arn:aws:ec2:{REGION}:123456789012:instance/i-{n}" for n in ("1", "2"))
    iam.put_role_policy(
        RoleName=name,
        PolicyName="scoped",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "EC2:Stop*", "Resource": "*"},
                    {"Effect": "Deny", "Action": "ec2:StopInstances", "Resource": two},
                    {"Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:s3:::b/*"},
                    {
                        "Effect": "Allow",
                        "Action": "sqs:SendMessage",
                        "Resource": "*",
                        "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
                    },
                    {"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"},
                    {
                        "Effect": "Deny",
                        "Action": "sns:Publish",
                        "Resource": "*",
                        "Condition": {"StringNotEquals": {"aws:SourceVpc": "vpc-1"}},
                    },
                ],
            }
        ),
    )
    iam.attach_role_policy(RoleName=name, PolicyArn=LAMBDA_VPC_POLICY)
    for key, value in {
        "AWS_ENDPOINT_URL": iam.meta.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(key, value)
    inv = Inventory(open_session(REGION))
    got = inv.simulation(
        role,
        "ec2:StopInstances ec2:CreateNetworkInterface s3:PutObject iam:PassRole sqs:SendMessage "
        "sns:Publish",
        f"{one} {two} arn:aws:s3:::b/logs/x",
    )
    decisions = got["decisions"]
    assert decisions["ec2:StopInstances"] == {
        one: "allowed",
        two: "explicitDeny",
        "arn:aws:s3:::b/logs/x": "allowed",
    }
    assert decisions["ec2:CreateNetworkInterface"][one] == "allowed"  # the managed policy's
    assert decisions["s3:PutObject"] == {
        one: "implicitDeny",
        two: "implicitDeny",
        "arn:aws:s3:::b/logs/x": "allowed",
    }
    assert set(decisions["iam:PassRole"].values()) == {"implicitDeny"}  # NotAction iam:*
    assert decisions["sqs:SendMessage"][one] == "implicitDeny"  # its only allow is conditioned
    # a negated test holds when the key has no value, as IAM judges it: the deny applies
    assert decisions["sns:Publish"][one] == "explicitDeny"
    assert got["missing_context"] == ["aws:SourceAccount", "aws:SourceVpc"]

    # A permissions boundary limits what the identity policies allow.
    boundary = iam.create_policy(
        PolicyName=f"{name}-boundary",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}],
            }
        ),
    )["Policy"]["Arn"]
    iam.put_role_permissions_boundary(RoleName=name, PermissionsBoundary=boundary)
    bounded = Inventory(open_session(REGION)).simulation(
        role, "ec2:StopInstances s3:PutObject", "arn:aws:s3:::b/logs/x"
    )["decisions"]
    assert bounded == {
        "ec2:StopInstances": {"arn:aws:s3:::b/logs/x": "allowed"},
        "s3:PutObject": {"arn:aws:s3:::b/logs/x": "implicitDeny"},
    }
    # No such role: absent (None), as for every other collection.
    gone = role.replace(name, name + "-gone")
    assert Inventory(open_session(REGION)).simulation(gone, "s3:PutObject", "*") is None
