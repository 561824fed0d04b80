"""Verify is read-only by construction: the session refuses writes before they leave.
Perform never deletes, by the same construction: its session refuses deletions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from runbook.aws.session import FIX_ALLOW, is_destructive, is_read, open_session
from runbook.errors import DeletionRefused, ReadOnlyViolation

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("op", "read"),
    [
        ("ec2:DescribeVpcs", True),
        ("iam:GetGroup", True),
        ("lambda:ListFunctions", True),
        ("logs:FilterLogEvents", True),
        ("sts:GetCallerIdentity", True),
        ("ec2:CreateVpc", False),
        ("ec2:AuthorizeSecurityGroupIngress", False),
        ("lambda:InvokeFunction", False),
        ("states:StartExecution", False),
        ("ecr:GetAuthorizationToken", False),
        ("secretsmanager:PutSecretValue", False),
    ],
)
def test_read_classification(op: str, read: bool) -> None:
    assert is_read(*op.split(":")) is read


@pytest.fixture
def dead_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing listens on port 9: a call that got past the guard would fail to connect."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def test_verify_session_refuses_writes_before_sending(dead_endpoint: None) -> None:
    session = open_session("eu-west-2", max_attempts=1, connect_timeout=1)
    with pytest.raises(ReadOnlyViolation, match="refused ec2:CreateVpc"):
        session.client("ec2").create_vpc(CidrBlock="10.0.0.0/16")
    with pytest.raises(ReadOnlyViolation, match="refused lambda:Invoke"):
        session.client("lambda").invoke(FunctionName="WikidotNotifier")
    assert session.log.attempts == {}  # nothing was sent


def test_reads_pass_the_guard_and_are_counted(dead_endpoint: None) -> None:
    from botocore.exceptions import EndpointConnectionError

    session = open_session("eu-west-2", max_attempts=2, connect_timeout=1)
    with pytest.raises(EndpointConnectionError):
        session.client("ec2").describe_vpcs()
    assert session.log.calls == {"ec2:DescribeVpcs": 1}
    assert session.log.attempts == {"ec2:DescribeVpcs": 2}
    assert session.log.retries == {"ec2:DescribeVpcs": 1}


def test_writable_session_lets_writes_through(dead_endpoint: None) -> None:
    from botocore.exceptions import EndpointConnectionError

    session = open_session("eu-west-2", writable=True, max_attempts=1, connect_timeout=1)
    with pytest.raises(EndpointConnectionError):
        session.client("ec2").create_vpc(CidrBlock="10.0.0.0/16")
    assert session.log.mutating() == {"ec2:CreateVpc": 1}


@pytest.mark.parametrize(
    ("op", "destructive"),
    [
        ("ec2:DeleteVpc", True),
        ("ec2:TerminateInstances", True),
        ("ec2:ReleaseAddress", True),
        ("ec2:DisassociateAddress", True),
        ("ec2:DetachInternetGateway", True),
        ("ec2:DeleteNetworkAclEntry", True),
        ("iam:DetachGroupPolicy", True),
        ("iam:RemoveUserFromGroup", True),
        ("lambda:RemovePermission", True),
        ("ecr:BatchDeleteImage", True),
        ("kms:ScheduleKeyDeletion", True),
        # configuration steps of the guide, not deletions (see FIX_ALLOW)
        ("ec2:RevokeSecurityGroupEgress", False),
        ("ec2:RevokeSecurityGroupIngress", False),
        ("events:RemoveTargets", False),
        # creating, adding, setting and the database's stop are not deletions
        ("ec2:CreateRoute", False),
        ("ec2:ReplaceRoute", False),
        ("ec2:StopInstances", False),
        ("lambda:UpdateFunctionConfiguration", False),
        ("iam:CreatePolicyVersion", False),
        ("ec2:DescribeAddresses", False),
    ],
)
def test_destructive_classification(op: str, destructive: bool) -> None:
    assert is_destructive(*op.split(":")) is destructive


def test_perform_session_refuses_deletions_before_sending(dead_endpoint: None) -> None:
    session = open_session("eu-west-2", writable=True, max_attempts=1, connect_timeout=1)
    ec2 = session.client("ec2")
    with pytest.raises(DeletionRefused, match=r"^perform never deletes: refused ec2:DeleteVpc \("):
        ec2.delete_vpc(VpcId="vpc-1")
    with pytest.raises(DeletionRefused, match="refused ec2:ReleaseAddress"):
        ec2.release_address(AllocationId="eipalloc-1")
    with pytest.raises(DeletionRefused, match="refused iam:DetachGroupPolicy"):
        session.client("iam").detach_group_policy(
            GroupName="g", PolicyArn="arn:aws:iam::aws:policy/AmazonEC2FullAccess"
        )
    assert session.log.attempts == {}  # nothing was sent
    assert session.log.calls == {}


def test_perform_session_makes_the_guides_removals(dead_endpoint: None) -> None:
    from botocore.exceptions import EndpointConnectionError

    session = open_session("eu-west-2", writable=True, max_attempts=1, connect_timeout=1)
    with pytest.raises(EndpointConnectionError):  # past the guard, to the (dead) endpoint
        session.client("ec2").revoke_security_group_egress(
            GroupId="sg-1", SecurityGroupRuleIds=["sgr-1"]
        )
    with pytest.raises(EndpointConnectionError):
        session.client("ec2").revoke_security_group_ingress(
            GroupId="sg-1", SecurityGroupRuleIds=["sgr-2"]
        )
    with pytest.raises(EndpointConnectionError):
        session.client("events").remove_targets(Rule="r", Ids=["old"])
    assert set(session.log.attempts) == FIX_ALLOW


def test_lab_session_may_delete(dead_endpoint: None) -> None:
    from botocore.exceptions import EndpointConnectionError

    from runbook.aws.inventory import Inventory
    from runbook.lab.faults import World
    from runbook.profile import Profile

    lab = open_session(
        "eu-west-2", writable=True, may_delete=True, max_attempts=1, connect_timeout=1
    )
    with pytest.raises(EndpointConnectionError):
        lab.client("ec2").terminate_instances(InstanceIds=["i-1"])
    assert lab.log.attempts == {"ec2:TerminateInstances": 1}
    # a fault's World is the lab's hand whatever writable session it is given
    world = World(open_session("eu-west-2", writable=True), Inventory(None), Profile())
    with pytest.raises(EndpointConnectionError):
        world.client("iam").delete_login_profile(UserName="notifier")
    # a verify session stays read-only: the allowance only widens a writable session
    reader = open_session("eu-west-2", may_delete=True, max_attempts=1, connect_timeout=1)
    with pytest.raises(ReadOnlyViolation):
        reader.client("ec2").terminate_instances(InstanceIds=["i-1"])


def test_permit_lets_perform_delete_only_what_it_names(dead_endpoint: None) -> None:
    """The egress probe's allowance: its own function, by name, and nothing else."""
    from botocore.exceptions import EndpointConnectionError

    session = open_session("eu-west-2", writable=True, max_attempts=1, connect_timeout=1)
    session.permit("lambda:DeleteFunction", lambda params: params["FunctionName"] == "probe-1")
    lam = session.client("lambda")
    with pytest.raises(DeletionRefused, match="refused lambda:DeleteFunction with these param"):
        lam.delete_function(FunctionName="WikidotNotifier")
    with pytest.raises(DeletionRefused, match="refused lambda:DeleteAlias"):
        lam.delete_alias(FunctionName="probe-1", Name="live")
    with pytest.raises(EndpointConnectionError):
        lam.delete_function(FunctionName="probe-1")
    assert session.log.attempts == {"lambda:DeleteFunction": 1}


def destructive_calls(source: str) -> list[str]:
    """The API calls in ``source`` (``client.snake_name(...)``) that name a destructive
    operation, whatever the client: the service is not known statically."""
    allowed = {name.split(":", 1)[1] for name in FIX_ALLOW}
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            op = "".join(w.capitalize() for w in node.func.attr.split("_"))
            if op not in allowed and is_destructive("any", op):
                found.append(op)
    return found


def test_destructive_call_scan_finds_deletions() -> None:
    source = "ec2.delete_route(RouteTableId=t)\nctx.client('iam').detach_role_policy()\nx.get()"
    assert destructive_calls(source) == ["DeleteRoute", "DetachRolePolicy"]
    assert destructive_calls("ec2.revoke_security_group_egress(GroupId=g)") == []


def test_perform_code_names_no_deletion() -> None:
    """Belt and braces beside the guard: no action even asks for a deletion."""
    actions = sorted((ROOT / "runbook" / "actions").glob("*.py"))
    assert actions
    found = {p.name: destructive_calls(p.read_text()) for p in actions}
    # ... but its own lease, given back at its end under a permit for that one name
    assert {name: calls for name, calls in found.items() if calls} == {
        "lease.py": ["DeleteParameter"]
    }
    # the allowance to delete is the lab's own: no other code opens such a session
    users = {
        str(p.relative_to(ROOT))
        for p in (ROOT / "runbook").rglob("*.py")
        if "may_delete" in p.read_text()
    }
    assert users == {"runbook/aws/session.py", "runbook/lab/faults.py", "runbook/lab/build.py"}


def _verify_refuses(service: str, operation: str) -> bool:
    return open_session("eu-west-2")._refusal(service, operation) is not None


def test_the_verify_guard_allows_every_declared_read_and_no_other_read() -> None:
    """An allow-list, not a name prefix: every read a collection declares (the checker's
    policy) passes, and every other read-named operation of those services is refused."""
    import botocore.session

    from runbook.aws.collected import DECLARED_READS, IAM_PREFIX, iam_action
    from runbook.aws.session import verify_reads

    sdk = {prefix: name for name, prefix in IAM_PREFIX.items()}
    core = botocore.session.get_session()
    for action in DECLARED_READS:
        prefix, operation = action.split(":")
        assert not _verify_refuses(sdk.get(prefix, prefix), operation), action
    services = {sdk.get(a.split(":")[0], a.split(":")[0]) for a in DECLARED_READS}
    other_reads = [
        (service, op)
        for service in services
        for op in core.get_service_model(service).operation_names
        if is_read(service, op) and iam_action(service, op) not in verify_reads()
    ]
    assert len(other_reads) > 500  # the services' other reads: all refused
    refused = [f"{s}:{o}" for s, o in other_reads if _verify_refuses(s, o)]
    assert len(refused) == len(other_reads)


@pytest.mark.parametrize(
    ("service", "call", "params"),
    [
        ("stepfunctions", "get_activity_task", {"activityArn": "arn:aws:states:eu-west-2:1:a"}),
        ("ec2", "get_password_data", {"InstanceId": "i-0123"}),
        ("redshift", "get_cluster_credentials", {"DbUser": "u", "ClusterIdentifier": "c"}),
        ("s3", "list_buckets", {}),
    ],
)
def test_read_named_calls_no_collection_declares_never_leave(
    dead_endpoint: None, service: str, call: str, params: dict[str, str]
) -> None:
    """GetActivityTask takes a task, GetPasswordData hands out a password, GetClusterCredentials
    mints credentials: names of reads, not reads. Refused before sending (nothing listens)."""
    session = open_session("eu-west-2")
    with pytest.raises(ReadOnlyViolation, match="only the reads its collections declare"):
        getattr(session.client(service), call)(**params)
    assert sum(session.log.calls.values()) == 0
