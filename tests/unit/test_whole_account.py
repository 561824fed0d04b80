"""IAM read whole (one GetAccountAuthorizationDetails) in an account that fits in one page,
by name otherwise: the group, user, roles and policies the checks judge come out the same.

The lab's moto answers the whole read but never truncates it, and the IAM enforcement suite
(tests/integration/test_iam_enforcement.py) denies it; a larger account's truncated answer
is IAM's recorded answer here (botocore's Stubber checks it against the model)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber

from runbook.aws import iam
from runbook.aws.inventory import Inventory
from runbook.aws.session import open_session

ACCOUNT = "123456789012"
WHEN = datetime(2026, 11, 1, tzinfo=UTC)
TRUST = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'  # noqa: E501
ATTACHED = [{"PolicyName": "AmazonEC2FullAccess", "PolicyArn": "arn:aws:iam::aws:policy/x"}]
SECRET_POLICY = '{"Version": "2012-10-17", "Statement": []}'


def _group(name: str) -> dict[str, Any]:
    return {
        "Path": "/",
        "GroupName": name,
        "GroupId": f"G{name.upper()}XXXXXXXXXXX"[:21],
        "Arn": f"arn:aws:iam::{ACCOUNT}:group/{name}",
        "CreateDate": WHEN,
    }


def _user(name: str) -> dict[str, Any]:
    return {
        "Path": "/",
        "UserName": name,
        "UserId": "AIDAXXXXXXXXXXXXXXXXX",
        "Arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
        "CreateDate": WHEN,
    }


ROLE = {
    "Path": "/",
    "RoleName": "fn-role",
    "RoleId": "AROAXXXXXXXXXXXXXXXXX",
    "Arn": f"arn:aws:iam::{ACCOUNT}:role/fn-role",
    "CreateDate": WHEN,
    "AssumeRolePolicyDocument": TRUST,
}
POLICY = {
    "PolicyName": "SecretAccess",
    "PolicyId": "ANPAXXXXXXXXXXXXXXXXX",
    "Arn": f"arn:aws:iam::{ACCOUNT}:policy/SecretAccess",
    "Path": "/",
    "DefaultVersionId": "v2",
    "AttachmentCount": 1,
    "IsAttachable": True,
    "CreateDate": WHEN,
    "UpdateDate": WHEN,
}
WHOLE = {
    "UserDetailList": [
        {
            **_user("admin"),
            "GroupList": ["admins", "others"],
            "AttachedManagedPolicies": ATTACHED,
            "UserPolicyList": [{"PolicyName": "own", "PolicyDocument": SECRET_POLICY}],
        },
        {**_user("colleague"), "GroupList": ["admins"]},
    ],
    "GroupDetailList": [
        {**_group("admins"), "AttachedManagedPolicies": ATTACHED, "GroupPolicyList": []},
        {**_group("others"), "AttachedManagedPolicies": [], "GroupPolicyList": []},
    ],
    "RoleDetailList": [{**ROLE, "AttachedManagedPolicies": ATTACHED, "RolePolicyList": []}],
    "Policies": [
        {
            **POLICY,
            "PolicyVersionList": [
                {"Document": '{"old": 1}', "VersionId": "v1", "IsDefaultVersion": False},
                {"Document": SECRET_POLICY, "VersionId": "v2", "IsDefaultVersion": True},
            ],
        }
    ],
}


def whole() -> dict[str, Any]:
    """IAM's answer, a copy each time: botocore decodes its policy documents in place."""
    return {**copy.deepcopy(WHOLE), "IsTruncated": False}


FILTER = {"Filter": ["User", "Group", "Role", "LocalManagedPolicy"], "MaxItems": 100}


@pytest.fixture(autouse=True)
def in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """A collection's independent calls made one after the other: the Stubber answers in
    order (they are made at once in a run; runbook/aws/collected.py's together)."""
    monkeypatch.setattr(iam, "together", lambda *calls: [call() for call in calls])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")


@pytest.fixture
def inventory() -> Iterator[tuple[Inventory, Stubber]]:
    session = open_session("eu-west-2")
    with Stubber(session.client("iam")) as stub:
        yield Inventory(session), stub
        stub.assert_no_pending_responses()


def _group_by_name(stub: Stubber) -> None:
    """IAM's answers to the group's reads by name in the same account."""
    stub.add_response(
        "get_group",
        {"Group": _group("admins"), "Users": [_user("admin"), _user("colleague")]},
        {"GroupName": "admins"},
    )
    stub.add_response("list_attached_group_policies", {"AttachedPolicies": ATTACHED})
    stub.add_response("list_group_policies", {"PolicyNames": []})


def _login_and_mfa(stub: Stubber) -> None:
    stub.add_response(
        "get_login_profile", {"LoginProfile": {"UserName": "admin", "CreateDate": WHEN}}
    )
    stub.add_response("list_mfa_devices", {"MFADevices": []})


def _judged(inv: Inventory) -> dict[str, Any]:
    return {
        "group": inv.group("admins"),
        "absent group": inv.group("nobody"),
        "user": inv.user("admin"),
        "role": inv.role("fn-role"),
        "policy": inv.local_policy("SecretAccess"),
    }


def test_an_account_in_one_page_is_read_whole(inventory: tuple[Inventory, Stubber]) -> None:
    inv, stub = inventory
    stub.add_response("get_account_authorization_details", whole(), FILTER)
    _login_and_mfa(stub)  # the whole read has neither
    judged = _judged(inv)
    assert judged["group"] == {
        "Group": _group("admins"),
        "Users": [_user("admin"), _user("colleague")],
        "AttachedPolicies": ATTACHED,
        "InlinePolicyNames": [],
    }
    assert judged["absent group"] is None
    assert judged["user"] == {
        "Groups": [_group("admins"), _group("others")],
        "LoginProfile": True,
        "MFADevices": [],
        "AttachedPolicies": ATTACHED,
        "InlinePolicyNames": ["own"],
    }
    assert judged["role"]["AttachedPolicies"] == ATTACHED
    assert judged["role"]["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "lambda.amazonaws.com"
    }
    assert judged["policy"] == {
        "Policy": POLICY,
        "Document": {"Version": "2012-10-17", "Statement": []},
    }
    recorded = inv.snapshot()  # reports/inventory.json: the deployment, not the whole account
    assert "whole_account()" not in recorded and 'group("admins")' in recorded
    replayed = Inventory.from_snapshot(recorded)  # and a replay needs nothing more
    assert replayed.group("admins") == recorded['group("admins")']  # dates as text
    assert replayed.user("admin")["InlinePolicyNames"] == ["own"]


def test_a_larger_account_is_read_by_name_to_the_same_shapes(
    inventory: tuple[Inventory, Stubber],
) -> None:
    inv, stub = inventory
    truncated = {**whole(), "IsTruncated": True, "Marker": "next"}
    stub.add_response("get_account_authorization_details", truncated, FILTER)
    _group_by_name(stub)
    stub.add_client_error("get_group", "NoSuchEntity", http_status_code=404)
    stub.add_response(
        "list_groups_for_user",
        {"Groups": [_group("admins"), _group("others")]},
        {"UserName": "admin"},
    )
    _login_and_mfa(stub)
    stub.add_response("list_attached_user_policies", {"AttachedPolicies": ATTACHED})
    stub.add_response("list_user_policies", {"PolicyNames": ["own"]})
    stub.add_response("get_role", {"Role": ROLE}, {"RoleName": "fn-role"})
    stub.add_response("list_attached_role_policies", {"AttachedPolicies": ATTACHED})
    stub.add_response("list_policies", {"Policies": [POLICY], "IsTruncated": False})
    stub.add_response(
        "get_policy_version",
        {"PolicyVersion": {"Document": SECRET_POLICY, "VersionId": "v2", "IsDefaultVersion": True}},
        {"PolicyArn": POLICY["Arn"], "VersionId": "v2"},
    )
    by_name = _judged(inv)
    assert by_name == _whole_judged()


def _whole_judged() -> dict[str, Any]:
    """The same account read whole (a fresh session)."""
    session = open_session("eu-west-2")
    with Stubber(session.client("iam")) as stub:
        stub.add_response("get_account_authorization_details", whole())
        _login_and_mfa(stub)
        return _judged(Inventory(session))


def test_a_checker_that_may_not_read_it_whole_reads_by_name(
    inventory: tuple[Inventory, Stubber],
) -> None:
    inv, stub = inventory
    stub.add_client_error("get_account_authorization_details", "AccessDenied", http_status_code=403)
    _group_by_name(stub)
    assert inv.group("admins") == _whole_judged()["group"]
