"""The lab server's throttle: AWS's throttling answers, in each protocol, that the project's
own session recognises and retries; a deterministic share; set and read at run time.

The answers are checked as the project meets them: through its AWS session (adaptive retries)
against the real lab server, and through ``classify`` (what a check would report).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from runbook.aws.collected import classify
from runbook.aws.session import AwsSession, open_session
from runbook.lab import control
from runbook.lab.server import Throttle, throttled_at

pytestmark = pytest.mark.lab

REGION = "eu-west-2"
ATTEMPTS = 2
FUNCTION_ARN = "arn:aws:lambda:eu-west-2:123456789012:function:notifier"
CALLS: dict[str, Callable[[AwsSession], Any]] = {
    "ec2:DescribeVpcs": lambda s: s.client("ec2").describe_vpcs(),
    "ec2:DescribeSubnets": lambda s: s.client("ec2").describe_subnets(),
    "iam:ListRoles": lambda s: s.client("iam").list_roles(),
    "iam:ListUsers": lambda s: s.client("iam").list_users(),
    "sts:GetCallerIdentity": lambda s: s.client("sts").get_caller_identity(),
    "rds:DescribeDBInstances": lambda s: s.client("rds").describe_db_instances(),
    "rds:DescribeDBClusters": lambda s: s.client("rds").describe_db_clusters(),
    "cloudwatch:ListMetrics": lambda s: s.client("cloudwatch").list_metrics(),
    "cloudwatch:ListDashboards": lambda s: s.client("cloudwatch").list_dashboards(),
    "secretsmanager:ListSecrets": lambda s: s.client("secretsmanager").list_secrets(),
    "stepfunctions:ListStateMachines": lambda s: s.client("stepfunctions").list_state_machines(),
    "lambda:GetFunctionConfiguration": lambda s: s.client("lambda").get_function_configuration(
        FunctionName=FUNCTION_ARN
    ),
    "lambda:ListFunctions": lambda s: s.client("lambda").list_functions(),
}
# One call per protocol (query, ec2, JSON, REST-JSON by path), and a call that must go through
# meanwhile: of the same service where the protocol allows telling operations apart.
THROTTLED_WITH_OTHER = [
    ("ec2:DescribeVpcs", "ec2:DescribeSubnets"),
    ("iam:ListRoles", "iam:ListUsers"),
    ("sts:GetCallerIdentity", "iam:ListRoles"),
    ("rds:DescribeDBInstances", "rds:DescribeDBClusters"),
    ("cloudwatch:ListMetrics", "cloudwatch:ListDashboards"),
    ("secretsmanager:ListSecrets", "stepfunctions:ListStateMachines"),
    ("stepfunctions:ListStateMachines", "secretsmanager:ListSecrets"),
    ("lambda:GetFunctionConfiguration", "lambda:ListFunctions"),
    ("lambda:ListFunctions", "lambda:GetFunctionConfiguration"),
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A lab server of its own (free port): the throttle is server-wide."""
    state_dir: Path = tmp_path_factory.mktemp("lab")
    try:
        yield control.start(state_dir)
    finally:
        control.stop(state_dir)


@pytest.fixture
def session(lab: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsSession]:
    """The project's session against the lab (writable: these are any reads, not only the
    ones verify declares; nothing here writes); throttling always off afterwards."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", lab)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "lab")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "lab")
    try:
        yield open_session(REGION, writable=True, max_attempts=ATTEMPTS)
    finally:
        control.throttle(lab, 0)


def call(session: AwsSession, name: str) -> Exception | None:
    """Make the call ``name`` (a key of CALLS); the error it ended with, if any."""
    try:
        CALLS[name](session)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("ResourceNotFoundException",):
            return None  # an answer from moto: the request went through
        return exc
    return None


@pytest.mark.parametrize("fraction", [0, 0.1, 0.25, 0.3, Fraction(1, 3), 0.5, 1])
def test_fraction_is_exact_and_never_refuses_twice_in_a_row(fraction: float) -> None:
    f = Fraction(str(fraction)) if isinstance(fraction, float) else Fraction(fraction)
    refused = [throttled_at(i, f) for i in range(1000)]
    assert sum(refused) == math.floor(1000 * f)
    if f <= Fraction(1, 2):
        assert not any(a and b for a, b in itertools.pairwise(refused))


@pytest.mark.parametrize(("name", "other"), THROTTLED_WITH_OTHER)
def test_operation_throttled_in_its_protocol_past_the_retry_budget(
    name: str, other: str, lab: str, session: AwsSession
) -> None:
    control.throttle(lab, operations=[name])
    error = call(session, name)
    assert isinstance(error, ClientError), f"{name} was not throttled"
    service = name.split(":")[0]
    assert classify(service, error).kind == "throttled"  # what the check would report
    # botocore saw a throttle (it retried), the server refused every attempt, and only those.
    assert session.log.attempts[name] == ATTEMPTS
    assert control.throttling(lab)["throttled"] == ATTEMPTS
    # A fresh session: the throttled client's adaptive rate limiter would only slow this down.
    assert call(open_session(REGION, writable=True, max_attempts=ATTEMPTS), other) is None
    assert control.throttling(lab)["throttled"] == ATTEMPTS


def test_half_of_the_requests_throttled_every_call_succeeds_on_retry(
    lab: str, session: AwsSession
) -> None:
    control.throttle(lab, 0.5)
    for _ in range(3):
        session.client("sts").get_caller_identity()
    state = control.throttling(lab)
    assert state["throttled"] == 2  # requests 2 and 4 of 5: every call but the first, once
    assert session.log.retries == {"sts:GetCallerIdentity": state["throttled"]}


def test_the_lab_api_is_never_throttled_and_off_means_off(lab: str, session: AwsSession) -> None:
    control.throttle(lab, 1)
    assert control.answers(lab)  # moto's own API goes through
    control.throttle(lab, 0)
    session.client("sts").get_caller_identity()
    assert control.throttling(lab) == {
        "fraction": 0.0,
        "operations": [],
        "requests": 0,
        "throttled": 0,
    }


@pytest.mark.parametrize(
    ("fraction", "operations", "why"),
    [
        (1.5, [], '"fraction" must be from 0 to 1'),
        (0.5, ["GetSecretValue"], '"operations" must be a list of "service:Operation"'),
    ],
)
def test_a_bad_setting_is_refused_in_one_line(
    lab: str, fraction: float, operations: list[str], why: str
) -> None:
    control.throttle(lab, 0.2)
    with pytest.raises(control.LabError, match=why) as refused:
        control.throttle(lab, fraction, operations)
    assert "\n" not in str(refused.value)
    assert control.throttling(lab)["fraction"] == 0.2  # unchanged
    control.throttle(lab, 0)


def test_a_call_refused_once_goes_through_next_even_with_others_between() -> None:
    """Reads made at once interleave: the retry of a refused call may come after other calls'
    requests, on a slot the spread would refuse; it still goes through (up to one half)."""
    answered: list[str] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        answered.append(environ["HTTP_AMZ_SDK_INVOCATION_ID"])
        start_response("200 OK", [])
        return [b""]

    throttle = Throttle(app)
    throttle.configure({"fraction": 0.5})  # the 2nd, 4th, 6th ... request is refused

    def send(call: str) -> bool:
        environ = {
            "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=lab/20261203/eu-west-2/sts/"
            "aws4_request, SignedHeaders=host, Signature=0",
            "HTTP_X_AMZ_TARGET": "AWSSecurityTokenServiceV20110615.GetCallerIdentity",
            "HTTP_AMZ_SDK_INVOCATION_ID": call,
            "PATH_INFO": "/",
            "REQUEST_METHOD": "POST",
        }
        status: list[str] = []
        throttle(environ, lambda s, _h: status.append(s))
        return status[0].startswith("200")

    assert [send(c) for c in ("a", "b", "c")] == [True, False, True]  # b refused on slot 2
    assert send("b")  # slot 4 would refuse: b's retry goes through all the same
    assert send("d") and not send("e")  # the spread goes on
    assert answered == ["a", "c", "b", "d"]
    assert throttle.state()["throttled"] == 2
