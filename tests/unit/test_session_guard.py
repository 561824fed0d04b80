"""Verify is read-only by construction: the session refuses writes before they leave."""

from __future__ import annotations

import pytest

from runbook.aws.session import is_read, open_session
from runbook.errors import ReadOnlyViolation


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
