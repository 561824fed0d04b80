"""``--blame``: the names a failing resource is looked up by, the pace of the look-ups, and
what they find in the lab's CloudTrail (runbook/lab/trail.py, a real moto server behind it).

moto has no LookupEvents: the lab records every request it serves and answers it, so what is
tested here is the product's side against AWS's documented answer (newest first, one lookup
attribute, IAM's events in us-east-1), not CloudTrail's own indexing of every service.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from runbook.aws.session import open_session
from runbook.aws.trail import (
    MAX_LOOKUPS,
    Name,
    Pace,
    blame,
    bounded,
    change_of,
    differing_names,
    lookup_names,
    permit_lookups,
)
from runbook.errors import ReadOnlyViolation
from runbook.findings import Finding, Status
from runbook.lab import control

REGION = "eu-west-2"


@pytest.mark.parametrize(
    ("resource", "names"),
    [
        ("rule WikidotNotifierExecutor", [Name("WikidotNotifierExecutor", False)]),
        ("user WikidotNotifierAdmin", [Name("WikidotNotifierAdmin", True)]),
        ("group WikidotNotifierAdministration", [Name("WikidotNotifierAdministration", True)]),
        ("function WikidotNotifier's network path", [Name("WikidotNotifier", False)]),
        ("secret WikidotNotifier/auth", [Name("WikidotNotifier/auth", False)]),
        (
            "sg-305a4872ad0c15a3b (WikidotNotifierDatabaseSecurityGroup)",
            [Name("sg-305a4872ad0c15a3b", False)],
        ),
        # an id named with a kind is looked up once, where ids are
        ("security group sg-0123456789abcdef0", [Name("sg-0123456789abcdef0", False)]),
        (
            "arn:aws:iam::123456789012:role/service-role/WikidotNotifier-role-x1",
            [Name("WikidotNotifier-role-x1", True)],
        ),
        (
            "arn:aws:states:eu-west-2:123456789012:stateMachine:StartStop",
            [Name("StartStop", False)],
        ),
        (
            "ECR 123456789012.dkr.ecr.eu-west-2.amazonaws.com/notifier:latest (sha256:ab)",
            [Name("notifier", False)],
        ),
        (
            "rule WikidotNotifierExecutor, function WikidotNotifier",
            [Name("WikidotNotifierExecutor", False), Name("WikidotNotifier", False)],
        ),
        # the step functions' default resource names the rule, not a machine called "rule"
        (
            "the state machine rule WikidotNotifierExecutor starts",
            [Name("WikidotNotifierExecutor", False)],
        ),
        ("log group /aws/lambda/WikidotNotifier", []),  # not an IAM group
        (
            "arn:aws:iam::aws:policy/AdministratorAccess",  # AWS-managed: account "aws"
            [Name("AdministratorAccess", True)],
        ),
        ("region eu-west-2", []),
        ("the access host (cloud9) and the database", []),
        ("instance WDNotifier MySQL database", []),  # CloudTrail knows instances by id
        (None, []),
    ],
)
def test_names_a_resource_is_looked_up_by(resource: str | None, names: list[Name]) -> None:
    assert lookup_names(resource) == names


def test_what_differs_is_read_by_its_strings_not_its_json() -> None:
    """A quote or a bracket of the JSON never ends up in a name."""
    differs = {"extra": ["arn:aws:sns:eu-west-2:123456789012:alerts"], "missing": ["igw-0a"]}
    found = _failing("x", "region eu-west-2", differs=differs)
    assert differing_names(found) == [Name("alerts", False)]


CALL, WHEN = "ec2:AuthorizeSecurityGroupIngress", "2025-12-03T08:20:00+00:00"
EVENT = {
    "EventId": "e1",
    "EventName": "AuthorizeSecurityGroupIngress",
    "ReadOnly": "false",
    "EventTime": 1764750000.0,
    "EventSource": "ec2.amazonaws.com",
    "Username": "mallory",
    "CloudTrailEvent": '{"userIdentity": {"arn": "arn:aws:iam::1:user/mallory"}}',
}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (EVENT, ("mallory", CALL, WHEN)),
        ({**EVENT, "ReadOnly": "true"}, None),  # a read changed nothing
        ({**EVENT, "CloudTrailEvent": '{"errorCode": "AccessDenied"}'}, None),  # refused
        ({**EVENT, "EventName": "StopInstances"}, None),  # the schedule's own, every hour
        ({**EVENT, "EventSource": "states.amazonaws.com", "EventName": "StartExecution"}, None),
        ({**EVENT, "CloudTrailEvent": "not json", "Username": None}, ("unknown", CALL, WHEN)),
        ({**EVENT, "EventTime": None}, ("mallory", CALL, None)),
        ({**EVENT, "EventTime": 1e300}, ("mallory", CALL, "1e+300")),
        ("not an event", None),
    ],
)
def test_a_change_is_read_from_any_shape_of_event(event: Any, expected: Any) -> None:
    change = change_of(event, "sg-1")
    if expected is None:
        assert change is None
        return
    assert change is not None
    assert (change["who"], change["call"], change["when"]) == expected


def test_the_lookups_session_is_bounded_by_what_is_left_of_the_run() -> None:
    session = open_session(REGION, read_timeout=20, max_attempts=5)
    tight = bounded(session, 4.0)
    assert (tight.read_timeout, tight.max_attempts) == (4.0, 3)
    assert tight.log is session.log  # the same call log: the look-ups are counted
    permit_lookups(tight)
    with pytest.raises(ReadOnlyViolation):  # by resource name only
        tight.client("cloudtrail").lookup_events(
            LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "x"}]
        )


def test_pace_spaces_calls_half_a_second_apart() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pace = Pace(clock=lambda: now[0], sleep=sleep)
    starts = []
    for _ in range(5):
        pace.wait()
        starts.append(now[0])
        now[0] += 0.1  # the call itself
    assert [round(b - a, 3) for a, b in itertools.pairwise(starts)] == [0.5] * 4
    assert round(sum(slept), 3) == 1.6  # the first call waits for nothing


def test_pace_never_waits_after_a_slow_call() -> None:
    now, slept = [0.0], []
    pace = Pace(clock=lambda: now[0], sleep=slept.append)
    pace.wait()
    now[0] += 2.0
    pace.wait()
    assert slept == []


# --- against the lab's CloudTrail --------------------------------------------------------

Client = Callable[..., Any]


@pytest.fixture
def lab(moto_url: str) -> str:
    return moto_url


@pytest.fixture
def aws(lab: str, monkeypatch: pytest.MonkeyPatch) -> Client:
    """Clients as the lab's own hand (``lab``), or as another caller's keys; the product's
    sessions read the same environment."""
    control.reset(lab)
    monkeypatch.setenv("AWS_ENDPOINT_URL", lab)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "lab")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "lab")

    def client(service: str, keys: dict[str, str] | None = None, region: str = REGION) -> Any:
        creds = keys or {"AccessKeyId": "lab", "SecretAccessKey": "lab"}
        return boto3.client(
            service,
            region_name=region,
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
        )

    return client


def _user(aws: Client, name: str) -> dict[str, str]:
    aws("iam").create_user(UserName=name)
    return aws("iam").create_access_key(UserName=name)["AccessKey"]


def _failing(check_id: str, resource: str | None, differs: Any = None) -> Finding:
    return Finding(
        check_id=check_id,
        section="s",
        says="",
        status=Status.FAIL,
        summary="",
        guide="",
        resource=resource,
        differs=differs,
    )


def _session() -> Any:
    session = open_session(REGION, max_attempts=2)
    permit_lookups(session)
    return session


def _group(aws: Client, keys: dict[str, str] | None = None) -> tuple[Any, str]:
    ec2 = aws("ec2", keys)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    return ec2, ec2.create_security_group(GroupName="db", Description="d", VpcId=vpc)["GroupId"]


def test_blame_names_who_wrote_last_and_leaves_out_reads_and_refused_calls(aws: Client) -> None:
    mallory = _user(aws, "mallory")
    _, group = _group(aws)
    as_mallory = aws("ec2", mallory)
    open_mysql = [{"IpProtocol": "tcp", "FromPort": 3306, "ToPort": 3306}]
    as_mallory.authorize_security_group_ingress(
        GroupId=group, IpPermissions=[{**open_mysql[0], "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    with pytest.raises(ClientError):  # the same rule again: refused, so it changed nothing
        as_mallory.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[{**open_mysql[0], "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
        )
    as_mallory.describe_security_groups(GroupIds=[group])  # a read after the write
    session = _session()
    found = blame(session, [_failing("sg_check", f"{group} (db)")], partition="aws")
    entry = found["checks"]["sg_check"]
    assert entry["names"] == [group]
    newest = entry["changes"][0]
    assert (newest["who"], newest["call"], newest["resource"]) == (
        "mallory",
        "ec2:AuthorizeSecurityGroupIngress",
        group,
    )
    assert newest["identity"].endswith(":user/mallory")
    # newest first: the write, then the group's creation (found by the id its answer gave);
    # neither the refused repeat nor the read are there
    assert [(c["who"], c["call"]) for c in entry["changes"]] == [
        ("mallory", "ec2:AuthorizeSecurityGroupIngress"),
        ("moto", "ec2:CreateSecurityGroup"),
    ]
    assert entry["note"] is None
    assert found == {"lookups": 1, "note": None, "checks": found["checks"]}
    assert dict(session.log.calls) == {"cloudtrail:LookupEvents": 1}


def test_iam_changes_are_looked_up_where_aws_delivers_them(aws: Client) -> None:
    """IAM is global: its events are in us-east-1, whatever the deployment's region."""
    mallory = _user(aws, "mallory")
    aws("iam").create_user(UserName="admin")
    aws("iam", mallory).attach_user_policy(
        UserName="admin", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"
    )
    here = aws("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": "admin"}]
    )
    assert here["Events"] == []
    found = blame(_session(), [_failing("user_check", "user admin")], partition="aws")
    calls = [(c["who"], c["call"]) for c in found["checks"]["user_check"]["changes"]]
    # keys moto did not issue are its default caller, user/moto (as GetCallerIdentity says)
    assert calls == [("mallory", "iam:AttachUserPolicy"), ("moto", "iam:CreateUser")]


def test_a_resource_in_words_is_looked_up_by_the_ids_of_what_differs(aws: Client) -> None:
    allocation = aws("ec2").allocate_address(Domain="vpc")["AllocationId"]
    idle = _failing("idle_ip", "region eu-west-2", differs={"extra": [f"{allocation} (1.2.3.4)"]})
    no_name = _failing("no_name", "the access host (cloud9) and the database")
    found = blame(_session(), [idle, no_name], partition="aws")
    assert found["checks"]["idle_ip"]["changes"][0]["call"] == "ec2:AllocateAddress"
    assert found["checks"]["no_name"] == {
        "names": [],
        "changes": [],
        "note": "its resource has no name CloudTrail knows it by",
    }
    assert found["lookups"] == 1


def test_the_schedules_own_writes_are_passed_over_for_the_change(aws: Client) -> None:
    """Every hour the state machine starts and stops the database instance: a day of that
    fills a page; the change a person made before it is still found (on a later page)."""
    ec2 = aws("ec2")
    _, group = _group(aws)
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]
    mallory = _user(aws, "mallory")
    aws("ec2", mallory).modify_instance_attribute(InstanceId=instance["InstanceId"], Groups=[group])
    for _ in range(30):  # 60 events: more than a page
        ec2.stop_instances(InstanceIds=[instance["InstanceId"]])
        ec2.start_instances(InstanceIds=[instance["InstanceId"]])
    session = _session()
    found = blame(
        session,
        [_failing("db", f"{instance['InstanceId']}")],
        partition="aws",
        pace=Pace(sleep=lambda s: None),
    )
    calls = [(c["who"], c["call"]) for c in found["checks"]["db"]["changes"]]
    assert calls[0] == ("mallory", "ec2:ModifyInstanceAttribute")
    assert not any(c in ("ec2:StartInstances", "ec2:StopInstances") for _, c in calls)
    assert found["lookups"] == 2  # a second page was read for it


def test_lookups_are_bounded_and_each_name_is_asked_once(aws: Client) -> None:
    failing = [_failing(f"check_{n}", f"rule r{n}") for n in range(MAX_LOOKUPS + 2)]
    failing.append(_failing("again", "rule r0"))  # a name already asked: no new look-up
    slept: list[float] = []
    session = _session()
    found = blame(session, failing, partition="aws", pace=Pace(sleep=slept.append))
    assert found["lookups"] == MAX_LOOKUPS
    assert session.log.calls["cloudtrail:LookupEvents"] == MAX_LOOKUPS
    assert found["note"] == f"stopped at {MAX_LOOKUPS} look-ups (AWS allows 2 a second)"
    assert found["checks"][f"check_{MAX_LOOKUPS}"]["note"] == "not all of its names were looked up"
    assert found["checks"]["again"]["note"] == "no change to it in CloudTrail's last 90 days"
    assert len(slept) >= MAX_LOOKUPS - 2  # paced, not fired at once


def test_passing_and_could_not_check_findings_are_not_looked_up(aws: Client) -> None:
    fine = Finding("ok", "s", "", Status.PASS, "", "", resource="rule r")
    unknown = Finding("err", "s", "", Status.ERROR, "", "", resource="rule r")
    session = _session()
    assert blame(session, [fine, unknown], partition="aws") == {
        "lookups": 0,
        "note": None,
        "checks": {},
    }
    assert not session.log.calls


def test_throttled_lookups_stop_blame_with_a_note_not_an_error(aws: Client, lab: str) -> None:
    control.throttle(lab, operations=["cloudtrail:LookupEvents"])
    try:
        found = blame(
            _session(), [_failing("a", "rule a"), _failing("b", "rule b")], partition="aws"
        )
    finally:
        control.throttle(lab, 0)
    assert found["note"].startswith("stopped: cloudtrail:LookupEvents still throttled")
    assert found["lookups"] == 1  # the one that failed counts; none after it
    assert found["checks"]["b"]["note"] == "not all of its names were looked up"


def test_a_verify_session_refuses_lookups_unless_blame_asked_for_them(aws: Client) -> None:
    session = open_session(REGION)
    with pytest.raises(ReadOnlyViolation, match="only the reads its collections declare"):
        session.client("cloudtrail").lookup_events()
    assert not session.log.calls
    permit_lookups(session)
    by_name = [{"AttributeKey": "ResourceName", "AttributeValue": "x"}]
    session.client("cloudtrail").lookup_events(LookupAttributes=by_name)
    assert session.log.calls["cloudtrail:LookupEvents"] == 1


def test_the_labs_lookup_answers_as_aws_does(aws: Client, lab: str) -> None:
    trail = aws("cloudtrail")
    for n in range(3):
        aws("events").put_rule(Name="r", ScheduleExpression=f"rate({n + 1} hours)")
    attribute = [{"AttributeKey": "ResourceName", "AttributeValue": "r"}]
    first = trail.lookup_events(LookupAttributes=attribute, MaxResults=2)
    assert len(first["Events"]) == 2 and first["NextToken"]
    rest = trail.lookup_events(
        LookupAttributes=attribute, MaxResults=2, NextToken=first["NextToken"]
    )
    times = [e["EventTime"] for e in first["Events"] + rest["Events"]]
    assert times == sorted(times, reverse=True) and len(times) == 3
    event = json.loads(first["Events"][0]["CloudTrailEvent"])
    assert (event["eventSource"], event["eventName"], event["readOnly"]) == (
        "events.amazonaws.com",
        "PutRule",
        False,
    )
    two = [*attribute, {"AttributeKey": "EventName", "AttributeValue": "PutRule"}]
    with pytest.raises(ClientError, match="InvalidLookupAttributesException"):
        trail.lookup_events(LookupAttributes=two)
    with pytest.raises(ClientError, match="InvalidMaxResultsException"):
        trail.lookup_events(MaxResults=51)
    with pytest.raises(ClientError, match="InvalidNextTokenException"):
        trail.lookup_events(NextToken="not-ours")
    control.reset(lab)  # the lab forgets its events with everything else
    assert trail.lookup_events(LookupAttributes=attribute)["Events"] == []


def test_blame_reads_nothing_without_a_failing_finding() -> None:
    """No lab needed: nothing failing, nothing asked (the session is never used)."""
    session = open_session(REGION)
    assert blame(session, [], partition="aws")["lookups"] == 0
