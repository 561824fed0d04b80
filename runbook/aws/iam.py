"""IAM collections: the administration group and user, the account, roles and policies."""

from __future__ import annotations

import functools
import json
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from runbook.aws.collected import (
    ACCESS_DENIED,
    CollectionError,
    collected,
    error_code,
    together,
)

# An account with at most this many users, groups, roles and policies of its own is read whole,
# in one call (a deployment's account usually is that small); a larger one by name, each read
# on its own. One page of IAM's answer: its size is bounded whatever the account's.
WHOLE_ACCOUNT_ITEMS = 100
_WHOLE = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")
_ROLE_KEYS = (
    "Path",
    "RoleName",
    "RoleId",
    "Arn",
    "CreateDate",
    "AssumeRolePolicyDocument",
    "PermissionsBoundary",
    "Tags",
    "RoleLastUsed",
)


def _document(doc: Any) -> dict[str, Any]:
    """Policy documents arrive URL-encoded JSON from IAM, or already decoded by boto3."""
    if isinstance(doc, str):
        return json.loads(unquote(doc))
    return doc


class IamCollector:
    session: Any
    _cache: dict[str, Any]

    @property
    def _iam(self) -> Any:
        return self.session.client("iam")

    @collected("iam", reads=("GetAccountAuthorizationDetails",), recorded=False)
    def whole_account(self) -> dict[str, Any] | None:
        """The account's users, groups, roles and own policies in one call, when they fit in
        one page of WHOLE_ACCOUNT_ITEMS: what the group, the user, the roles and the policies
        are then read from (one call where ~13 reads by name were made). None when the account
        is larger, or the checker may not read it whole: each is then read by name. Not in
        the report's inventory.json: the rest of the account's IAM is not the deployment."""
        try:
            got = self._iam.get_account_authorization_details(
                Filter=["User", "Group", "Role", "LocalManagedPolicy"],
                MaxItems=WHOLE_ACCOUNT_ITEMS,
            )
        except ClientError as exc:
            if error_code(exc) in ACCESS_DENIED:
                return None
            raise
        if got.get("IsTruncated"):
            return None
        return {key: got.get(key, []) for key in _WHOLE}

    def _whole(self, kind: str) -> list[dict[str, Any]] | None:
        """One list of the whole account's read (``_WHOLE``), or None: read by name. A failed
        whole read (throttled, unreachable, not in a recording) leaves it to the reads by name,
        which meet the same failure themselves if it lasts."""
        try:
            whole = self.whole_account()
        except CollectionError:
            return None
        return None if whole is None else whole[kind]

    @collected(
        "iam",
        absent=("NoSuchEntity",),
        reads=("GetGroup", "ListAttachedGroupPolicies", "ListGroupPolicies"),
    )
    def group(self, name: str) -> dict[str, Any] | None:
        groups, users = self._whole("GroupDetailList"), self._whole("UserDetailList")
        if groups is not None and users is not None:
            found = next((g for g in groups if g["GroupName"] == name), None)
            return None if found is None else _group_of(found, users)
        got = self._iam.get_group(GroupName=name)  # NoSuchEntity: none, and nothing more asked
        attached, inline = together(
            lambda: self._iam.list_attached_group_policies(GroupName=name)["AttachedPolicies"],
            lambda: self._iam.list_group_policies(GroupName=name)["PolicyNames"],
        )
        return {
            "Group": got["Group"],
            "Users": got.get("Users", []),
            "AttachedPolicies": attached,
            "InlinePolicyNames": inline,
        }

    @collected(
        "iam",
        absent=("NoSuchEntity",),
        reads=(
            "ListGroupsForUser",
            "GetLoginProfile",
            "ListMFADevices",
            "ListAttachedUserPolicies",
            "ListUserPolicies",
        ),
    )
    def user(self, name: str) -> dict[str, Any] | None:
        users, groups = self._whole("UserDetailList"), self._whole("GroupDetailList")
        if users is not None and groups is not None:
            found = next((u for u in users if u["UserName"] == name), None)
            if found is None:
                return None
            return self._user_of(found, groups)
        groups = self._iam.list_groups_for_user(UserName=name)["Groups"]  # NoSuchEntity: none

        login, mfa, attached, inline = together(
            lambda: self._login_profile(name),
            lambda: self._iam.list_mfa_devices(UserName=name)["MFADevices"],
            lambda: self._iam.list_attached_user_policies(UserName=name)["AttachedPolicies"],
            lambda: self._iam.list_user_policies(UserName=name)["PolicyNames"],
        )
        return {
            "Groups": groups,
            "LoginProfile": login,
            "MFADevices": [d["SerialNumber"] for d in mfa],
            "AttachedPolicies": attached,
            "InlinePolicyNames": inline,
        }

    def _user_of(self, user: dict[str, Any], groups: list[dict[str, Any]]) -> dict[str, Any]:
        """``user``'s shape read by name, from the whole account's read: only its console
        password and MFA devices are asked (the whole read has neither)."""
        name = user["UserName"]
        login, mfa = together(
            lambda: self._login_profile(name),
            lambda: self._iam.list_mfa_devices(UserName=name)["MFADevices"],
        )
        return {
            "Groups": [_group_record(g) for g in groups if g["GroupName"] in user["GroupList"]],
            "LoginProfile": login,
            "MFADevices": [d["SerialNumber"] for d in mfa],
            "AttachedPolicies": user.get("AttachedManagedPolicies", []),
            "InlinePolicyNames": [p["PolicyName"] for p in user.get("UserPolicyList", [])],
        }

    def _login_profile(self, name: str) -> bool:
        try:
            self._iam.get_login_profile(UserName=name)
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                raise
            return False
        return True

    @collected("iam", reads=("ListEntitiesForPolicy",))
    def groups_with_policy(self, arn: str) -> list[str]:
        """The groups a managed policy is attached to: how discover finds the administration
        group by the guide's policies."""
        pages = self._iam.get_paginator("list_entities_for_policy").paginate(
            PolicyArn=arn, EntityFilter="Group"
        )
        return [g["GroupName"] for page in pages for g in page.get("PolicyGroups", [])]

    @collected("iam", reads=("GetAccountSummary",))
    def account_summary(self) -> dict[str, int]:
        return self._iam.get_account_summary()["SummaryMap"]

    @collected("iam", absent=("NoSuchEntity",), reads=("GetRole",))
    def role_record(self, name: str) -> dict[str, Any] | None:
        """The role itself: its ARN, path and trust policy (who may assume it)."""
        roles = self._whole("RoleDetailList")
        if roles is not None:
            found = next((r for r in roles if r["RoleName"] == name), None)
            if found is None:
                return None
            role = {k: found[k] for k in _ROLE_KEYS if k in found}
            role["AssumeRolePolicyDocument"] = _document(role.get("AssumeRolePolicyDocument", {}))
            return role
        role = self._iam.get_role(RoleName=name)["Role"]
        role["AssumeRolePolicyDocument"] = _document(role.get("AssumeRolePolicyDocument", {}))
        return role

    @collected("iam", absent=("NoSuchEntity",), reads=("GetInstanceProfile",))
    def instance_profile(self, name: str) -> dict[str, Any] | None:
        """An instance profile with its role (an instance carries the profile, not the role)."""
        got = self._iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        return {
            "Arn": got["Arn"],
            "InstanceProfileName": got["InstanceProfileName"],
            "Roles": [{"RoleName": r["RoleName"], "Arn": r["Arn"]} for r in got.get("Roles", [])],
        }

    @collected("iam", absent=("NoSuchEntity",), reads=("ListAttachedRolePolicies",))
    def role(self, name: str) -> dict[str, Any] | None:
        """The role with its attached policies (what the checks judge; IAM's simulation says
        what all its policies allow together)."""
        role = self.role_record(name)
        if role is None:
            return None
        roles = self._whole("RoleDetailList")
        if roles is not None:
            found = next(r for r in roles if r["RoleName"] == name)
            return {"Role": role, "AttachedPolicies": found.get("AttachedManagedPolicies", [])}
        attached = self._iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        return {"Role": role, "AttachedPolicies": attached}

    @collected("iam", absent=("NoSuchEntity",), reads=("ListRolePolicies", "GetRolePolicy"))
    def role_inline_policies(self, name: str) -> dict[str, Any] | None:
        """A role's inline policies by name, each its document (discover reads them)."""
        names = self._iam.list_role_policies(RoleName=name)["PolicyNames"]
        documents = together(
            *(
                functools.partial(self._iam.get_role_policy, RoleName=name, PolicyName=policy)
                for policy in names
            )
        )
        return {p: _document(d["PolicyDocument"]) for p, d in zip(names, documents, strict=True)}

    @collected("iam", reads=("ListPolicies", "GetPolicyVersion"))
    def local_policy(self, name: str) -> dict[str, Any] | None:
        """A customer-managed policy by name, with its default version's document."""
        policies = self._whole("Policies")
        if policies is not None:
            found = next((p for p in policies if _policy_name(p) == name), None)
            if found is None:
                return None
            versions = found.get("PolicyVersionList", [])
            default = next(v for v in versions if v["VersionId"] == found["DefaultVersionId"])
            dropped = ("PolicyVersionList", "Description")  # ListPolicies gives neither
            policy = {k: v for k, v in found.items() if k not in dropped} | {"PolicyName": name}
            return {"Policy": policy, "Document": _document(default["Document"])}
        for page in self._iam.get_paginator("list_policies").paginate(Scope="Local"):
            for policy in page["Policies"]:
                if policy["PolicyName"] == name:
                    version = self._iam.get_policy_version(
                        PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"]
                    )["PolicyVersion"]
                    return {"Policy": policy, "Document": _document(version["Document"])}
        return None

    @collected("iam", reads=("GetPolicy", "GetPolicyVersion"))
    def managed_policy_document(self, arn: str) -> dict[str, Any]:
        """The default version's document of an attached (AWS- or customer-managed) policy."""
        policy = self._iam.get_policy(PolicyArn=arn)["Policy"]
        version = self._iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])
        return _document(version["PolicyVersion"]["Document"])

    @collected("iam", absent=("NoSuchEntity",), reads=("SimulatePrincipalPolicy",))
    def simulation(self, principal: str, actions: str, resources: str) -> dict[str, Any] | None:
        """IAM's own evaluation of what a principal (role or user ARN) may do: every action
        (space-separated) on every resource (space-separated), as
        ``{"decisions": {action: {resource: "allowed"|"explicitDeny"|"implicitDeny"}},
        "missing_context": [...]}``. IAM answers either one result per action and resource, or
        (today) one per action with ``ResourceSpecificResults``; both are read."""
        wanted_actions, wanted_resources = actions.split(), resources.split()
        decisions: dict[str, dict[str, str]] = {}
        missing: set[str] = set()
        pages = self._iam.get_paginator("simulate_principal_policy").paginate(
            PolicySourceArn=principal, ActionNames=wanted_actions, ResourceArns=wanted_resources
        )
        for page in pages:
            for result in page.get("EvaluationResults", []):
                per = decisions.setdefault(result["EvalActionName"], {})
                missing.update(result.get("MissingContextValues", []))
                specific = result.get("ResourceSpecificResults") or []
                for one in specific:
                    per[one["EvalResourceName"]] = one["EvalResourceDecision"]
                    missing.update(one.get("MissingContextValues", []))
                if not specific:
                    per[result.get("EvalResourceName", "*")] = result["EvalDecision"]
        unanswered = [
            f"{a} on {r}"
            for a in wanted_actions
            for r in wanted_resources
            if r not in decisions.get(a, {})
        ]
        if unanswered:
            raise CollectionError(
                "aws-error", f"IAM's simulation gave no decision for {', '.join(unanswered[:3])}"
            )
        return {"decisions": decisions, "missing_context": sorted(missing)}


def _policy_name(policy: dict[str, Any]) -> str:
    """A policy's name; the last part of its ARN where the answer leaves it out (moto does)."""
    return policy.get("PolicyName") or policy["Arn"].rsplit("/", 1)[-1]


def _group_record(group: dict[str, Any]) -> dict[str, Any]:
    """A group as GetGroup and ListGroupsForUser give it, from the whole account's read."""
    return {
        k: group[k] for k in ("Path", "GroupName", "GroupId", "Arn", "CreateDate") if k in group
    }


def _group_of(group: dict[str, Any], users: list[dict[str, Any]]) -> dict[str, Any]:
    """``group``'s shape read by name, from the whole account's read (its users are those whose
    groups name it: the read is whole)."""
    keys = ("Path", "UserName", "UserId", "Arn", "CreateDate")
    return {
        "Group": _group_record(group),
        "Users": [
            {k: u[k] for k in keys if k in u} for u in users if group["GroupName"] in u["GroupList"]
        ],
        "AttachedPolicies": group.get("AttachedManagedPolicies", []),
        "InlinePolicyNames": [p["PolicyName"] for p in group.get("GroupPolicyList", [])],
    }
