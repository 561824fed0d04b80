"""The pure pieces that make verdicts exact: security-group rules one peer at a time, network
ACL evaluation, resource-policy principals, trust policies, the state machine's qualifier, and
the simulator's two answer shapes."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from botocore.stub import Stubber

from checks import rules as R
from checks.network_acls import Flow, refusal
from checks.policy import outsiders, trusts
from runbook.stepfunctions.graph import analyse

ACCOUNT = "123456789012"


def test_rules_are_flat_one_peer_each() -> None:
    permissions = [
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {
            "IpProtocol": "tcp",
            "FromPort": 3306,
            "ToPort": 3306,
            "UserIdGroupPairs": [{"GroupId": "sg-1"}],
            "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
        },
    ]
    assert R.texts(permissions) == ["all 0.0.0.0/0", "tcp 3306-3306 ::/0", "tcp 3306-3306 sg-1"]
    assert R.tcp(3306, "sg-1") in R.flat(permissions)
    assert R.admits(permissions, 3306, "::/0") and not R.admits(permissions, 22, "sg-1")
    # DescribeSecurityGroupRules' shape gives the same facts (what perform revokes by id)
    entry = {"IpProtocol": "-1", "FromPort": -1, "ToPort": -1, "CidrIpv4": "0.0.0.0/0"}
    assert R.from_rule_entry(entry) == R.everything("0.0.0.0/0")
    referenced = {
        "IpProtocol": "tcp",
        "FromPort": 80,
        "ToPort": 80,
        "ReferencedGroupInfo": {"GroupId": "sg-9"},
    }
    assert R.from_rule_entry(referenced) == R.tcp(80, "sg-9")


def _acl(*entries: dict[str, Any]) -> dict[str, Any]:
    default = [
        {
            "RuleNumber": 32767,
            "Protocol": "-1",
            "RuleAction": "deny",
            "Egress": e,
            "CidrBlock": "0.0.0.0/0",
        }
        for e in (True, False)
    ]
    return {"NetworkAclId": "acl-1", "Entries": [*entries, *default]}


def _entry(
    number: int,
    action: str,
    cidr: str,
    *,
    egress: bool = True,
    ports: tuple[int, int] | None = None,
    protocol: str = "6",
) -> dict[str, Any]:
    entry = {
        "RuleNumber": number,
        "Protocol": protocol,
        "RuleAction": action,
        "Egress": egress,
        "CidrBlock": cidr,
    }
    if ports:
        entry["PortRange"] = {"From": ports[0], "To": ports[1]}
    return entry


def _flow(ports: tuple[int, int], *peers: str, egress: bool = True) -> Flow:
    subnet = {"SubnetId": "subnet-1", "VpcId": "vpc-1", "Tags": [{"Key": "Name", "Value": "s"}]}
    return Flow(subnet, egress, ports, tuple(ipaddress.ip_network(p) for p in peers), "there")


ALLOW_ALL = _entry(100, "allow", "0.0.0.0/0", protocol="-1")


@pytest.mark.parametrize(
    ("entries", "flow", "refused_by"),
    [
        ((ALLOW_ALL,), _flow((443, 443), "0.0.0.0/0"), None),
        (
            (_entry(50, "deny", "0.0.0.0/0", ports=(443, 443)), ALLOW_ALL),
            _flow((443, 443), "0.0.0.0/0"),
            "rule 50 deny tcp 443-443 0.0.0.0/0",
        ),
        # a deny after the allow that matched first changes nothing
        (
            (ALLOW_ALL, _entry(150, "deny", "0.0.0.0/0", ports=(443, 443))),
            _flow((443, 443), "0.0.0.0/0"),
            None,
        ),
        # two halves allowed make the whole
        (
            (
                _entry(10, "allow", "0.0.0.0/1", ports=(443, 443)),
                _entry(20, "allow", "128.0.0.0/1", ports=(443, 443)),
            ),
            _flow((443, 443), "0.0.0.0/0"),
            None,
        ),
        # one half only: the rest meets the default rule
        (
            (_entry(10, "allow", "0.0.0.0/1", ports=(443, 443)),),
            _flow((443, 443), "0.0.0.0/0"),
            "rule * deny all 0.0.0.0/0",
        ),
        # a deny of one port inside the answers' range refuses part of them
        (
            (
                _entry(50, "deny", "10.0.1.0/24", egress=False, ports=(3306, 3306)),
                _entry(100, "allow", "0.0.0.0/0", egress=False, protocol="-1"),
            ),
            _flow((1024, 65535), "10.0.1.0/24", egress=False),
            "rule 50 deny tcp 3306-3306 10.0.1.0/24",
        ),
        # ... but not answers from elsewhere
        (
            (
                _entry(50, "deny", "10.0.1.0/24", egress=False, ports=(3306, 3306)),
                _entry(100, "allow", "0.0.0.0/0", egress=False, protocol="-1"),
            ),
            _flow((1024, 65535), "10.0.0.5/32", egress=False),
            None,
        ),
        # other directions, protocols and IPv6 entries do not apply
        (
            (
                _entry(40, "deny", "0.0.0.0/0", egress=False, ports=(443, 443)),
                _entry(41, "deny", "0.0.0.0/0", ports=(443, 443), protocol="17"),
                ALLOW_ALL,
            ),
            _flow((443, 443), "0.0.0.0/0"),
            None,
        ),
    ],
)
def test_network_acl_first_match_by_rule_number(
    entries: tuple[dict[str, Any], ...], flow: Flow, refused_by: str | None
) -> None:
    assert refusal(_acl(*entries), flow) == refused_by


def test_world_is_the_internet_at_large() -> None:
    assert R.is_world("0.0.0.0/0") and R.is_world("::/0") and R.is_world("0.0.0.0/1")
    assert not R.is_world("10.0.0.0/8") and not R.is_world("203.0.113.0/24")
    assert not R.is_world("sg-1") and not R.is_world("pl-1")


def test_resource_policy_outsiders() -> None:
    def doc(*statements: dict[str, Any]) -> dict[str, Any]:
        return {"Statement": list(statements)}

    allow = {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}
    pinned = {"StringEquals": {"aws:PrincipalAccount": ACCOUNT}}
    assert outsiders(doc({**allow, "Principal": "*"}), ACCOUNT) == ["*"]
    assert outsiders(doc({**allow, "Principal": "*", "Condition": pinned}), ACCOUNT) == []
    assert (
        outsiders(doc({**allow, "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/r"}}), ACCOUNT)
        == []
    )
    assert outsiders(doc({**allow, "Principal": {"AWS": "999999999999"}}), ACCOUNT) == [
        "999999999999"
    ]
    events = {**allow, "Principal": {"Service": "events.amazonaws.com"}}
    assert outsiders(doc(events), ACCOUNT) == ["events.amazonaws.com"]  # any account's rule
    rule = f"arn:aws:events:eu-west-2:{ACCOUNT}:rule/WikidotNotifierExecutor"
    assert (
        outsiders(doc({**events, "Condition": {"ArnLike": {"AWS:SourceArn": rule}}}), ACCOUNT) == []
    )
    assert outsiders(doc({**allow, "Effect": "Deny", "Principal": "*"}), ACCOUNT) == []
    # an IfExists test passes when the key is absent: it pins nothing
    loose = {"StringEqualsIfExists": {"aws:SourceAccount": ACCOUNT}}
    assert outsiders(doc({**allow, "Principal": "*", "Condition": loose}), ACCOUNT) == ["*"]
    # everyone but one principal is everyone
    everyone_else = {**allow, "NotPrincipal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}
    assert outsiders(doc(everyone_else), ACCOUNT) == ["*"]
    by_arn = {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/*"}}
    assert outsiders(doc({**allow, "Principal": "*", "Condition": by_arn}), ACCOUNT) == []


def test_trust_policy() -> None:
    def trust(service: str, effect: str = "Allow", **extra: Any) -> dict[str, Any]:
        principal = {"Service": service}
        return {"Effect": effect, "Principal": principal, "Action": "sts:AssumeRole", **extra}

    lam = "lambda.amazonaws.com"
    assert trusts({"Statement": [trust(lam)]}, lam) == (True, [])
    assert trusts({"Statement": [trust("ec2.amazonaws.com")]}, lam) == (False, [])
    assert trusts({"Statement": [trust(lam), trust(lam, "Deny")]}, lam) == (False, [])
    # the older regional form the console made for Step Functions
    regional = "states.eu-west-2.amazonaws.com"
    assert trusts({"Statement": [trust(regional)]}, "states.amazonaws.com") == (True, [])
    # a confused-deputy guard: not evaluated, said so, not a refusal
    guard = trust(
        "*",
        "Deny",
        Sid="OnlyMyAccount",
        Condition={"StringNotEquals": {"aws:SourceAccount": ACCOUNT}},
    )
    assert trusts({"Statement": [trust(lam), guard]}, lam) == (True, ["OnlyMyAccount"])


FN = f"arn:aws:lambda:eu-west-2:{ACCOUNT}:function:WikidotNotifier"


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (
            {"Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": FN}},
            ("WikidotNotifier", None),
        ),
        (
            {
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": f"{FN}:3"},
            },
            ("WikidotNotifier", "3"),
        ),
        (
            {
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "WikidotNotifier:live"},
            },
            ("WikidotNotifier", "live"),
        ),
        (
            {
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "WikidotNotifier", "Qualifier": "7"},
            },
            ("WikidotNotifier", "7"),
        ),
        ({"Resource": f"{FN}:$LATEST"}, ("WikidotNotifier", "$LATEST")),
    ],
)
def test_the_version_or_alias_the_state_machine_invokes(
    state: dict[str, Any], expected: tuple[str, str | None]
) -> None:
    definition = {"StartAt": "Notify", "States": {"Notify": {"Type": "Task", "End": True, **state}}}
    assert analyse(definition).invoked_qualifiers == (expected,)


def _simulate(answer: dict[str, Any]) -> dict[str, Any] | None:
    """The collector on IAM's recorded answer (botocore's Stubber checks it against the model)."""
    from runbook.aws.inventory import Inventory
    from runbook.aws.session import open_session

    session = open_session("eu-west-2")
    iam = session.client("iam")
    with Stubber(iam) as stub:
        stub.add_response("simulate_principal_policy", answer)
        return Inventory(session).simulation(
            "arn:aws:iam::1:role/r", "s3:GetObject", "arn:aws:s3:::a arn:aws:s3:::b"
        )


def test_simulation_reads_both_answer_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    per_pair = {  # before 2025: one result per action and resource
        "EvaluationResults": [
            {"EvalActionName": "s3:GetObject", "EvalResourceName": r, "EvalDecision": d}
            for r, d in (("arn:aws:s3:::a", "allowed"), ("arn:aws:s3:::b", "explicitDeny"))
        ],
        "IsTruncated": False,
    }
    per_action = {  # today: one per action, the most restrictive on top
        "EvaluationResults": [
            {
                "EvalActionName": "s3:GetObject",
                "EvalResourceName": "arn:aws:s3:::b",
                "EvalDecision": "explicitDeny",
                "ResourceSpecificResults": [
                    {"EvalResourceName": "arn:aws:s3:::a", "EvalResourceDecision": "allowed"},
                    {"EvalResourceName": "arn:aws:s3:::b", "EvalResourceDecision": "explicitDeny"},
                ],
            }
        ],
        "IsTruncated": False,
    }
    wanted = {"s3:GetObject": {"arn:aws:s3:::a": "allowed", "arn:aws:s3:::b": "explicitDeny"}}
    assert _simulate(per_pair)["decisions"] == wanted
    assert _simulate(per_action)["decisions"] == wanted


def test_a_simulation_without_a_decision_is_could_not_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from runbook.aws.collected import CollectionError

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    partial = {
        "EvaluationResults": [
            {
                "EvalActionName": "s3:GetObject",
                "EvalResourceName": "arn:aws:s3:::a",
                "EvalDecision": "allowed",
            }
        ],
        "IsTruncated": False,
    }
    with pytest.raises(CollectionError, match="no decision for s3:GetObject on arn:aws:s3:::b"):
        _simulate(partial)
