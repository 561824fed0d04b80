"""IAM collections: the administration group and user, the account, roles and policies."""

from __future__ import annotations

import functools
import json
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from runbook.aws.collected import CollectionError, collected, error_code, together


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

    @collected(
        "iam",
        absent=("NoSuchEntity",),
        reads=("GetGroup", "ListAttachedGroupPolicies", "ListGroupPolicies"),
    )
    def group(self, name: str) -> dict[str, Any] | None:
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
        groups = self._iam.list_groups_for_user(UserName=name)["Groups"]  # NoSuchEntity: none

        def login_profile() -> bool:
            try:
                self._iam.get_login_profile(UserName=name)
            except ClientError as exc:
                if error_code(exc) != "NoSuchEntity":
                    raise
                return False
            return True

        login, mfa, attached, inline = together(
            login_profile,
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
