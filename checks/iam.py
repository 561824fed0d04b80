"""Creating an IAM user: the administration group, its user, the root account."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runbook.findings import Outcome, absent, judged
from runbook.profile import Profile
from runbook.registry import check

if TYPE_CHECKING:
    from runbook.aws.inventory import Inventory


# What the console attaches to a user made with "must create a new password at next sign-in".
CHANGE_PASSWORD = "IAMUserChangePassword"


def group_policy_diff(p: Profile, attached: list[dict]) -> tuple[list[str], list[str]]:
    """The guide's policies missing from the group, and those it has beyond them.

    The image variant adds one policy of the account's own for ECR, which the guide never
    names: whatever its name, the group's one customer-managed policy is taken for it (what it
    allows is proven by ``administration_group_may_push_the_image``), unless the profile names
    it with ``iam.ecr_policy``."""
    names = {a["PolicyName"] for a in attached}
    own = sorted(a["PolicyName"] for a in attached if ":iam::aws:policy/" not in a["PolicyArn"])
    expected = set(p.iam.group_policies)
    if p.variants.packaging == "image":
        expected.add(own[0] if own and not p.given("iam.ecr_policy") else p.iam.ecr_policy)
    return sorted(expected - names), sorted(names - expected)


@check(
    id="iam_group_has_exactly_guide_policies",
    section="iam",
    says="the administration group exists with exactly the guide's policies attached",
    guide="create the user group and attach the listed AWS-managed permission policies",
    severity="medium",
    risk="too few: the administrator cannot do the guide's steps; too many: more power than "
    "the deployment needs",
)
def group_policies(inv: Inventory, p: Profile) -> Outcome:
    group = inv.group(p.iam.group)
    if group is None:
        return absent("group", p.iam.group)
    actual = sorted(a["PolicyName"] for a in group["AttachedPolicies"])
    inline = sorted(group.get("InlinePolicyNames", []))
    missing, extra = group_policy_diff(p, group["AttachedPolicies"])
    extra += [f"{n} (inline)" for n in inline]
    return judged(
        not missing and not extra,
        f"missing {missing}, extra {extra}",
        resource=f"group {p.iam.group}",
        expected=sorted(set(actual) - set(extra) | set(missing)),
        actual=actual + [f"{n} (inline)" for n in inline],
    )


@check(
    id="iam_user_in_group_with_console_password",
    section="iam",
    says="the administration user exists, only in the group, with a console password",
    guide="create the IAM user with a password and attach it to the user group (and no other)",
    severity="medium",
    risk="outside the group, or without a password, the administrator works as root or not at "
    "all; another group adds power nobody reviewed",
)
def user(inv: Inventory, p: Profile) -> Outcome:
    found = inv.user(p.iam.user)
    if found is None:
        return absent("user", p.iam.user)
    groups = sorted(g["GroupName"] for g in found["Groups"])
    actual = {"groups": groups, "console_password": found["LoginProfile"]}
    expected = {"groups": [p.iam.group], "console_password": True}
    advisories = (
        ()
        if found["MFADevices"]
        else (f"user {p.iam.user} has no MFA device: enable MFA for console sign-in",)
    )
    return judged(
        actual == expected,
        f"groups {groups}, console password {found['LoginProfile']}",
        resource=f"user {p.iam.user}",
        expected=expected,
        actual=actual,
        advisories=advisories,
    )


@check(
    id="iam_user_has_no_policies_of_its_own",
    section="iam",
    says="the administration user holds no policies of its own, only its group's",
    guide="the user's permissions are the group's: attach policies to the user group, never to "
    "the user",
    severity="high",
    risk="a policy on the user bypasses the group's list: power nobody reviewed, often "
    "AdministratorAccess",
)
def user_policies(inv: Inventory, p: Profile) -> Outcome:
    found = inv.user(p.iam.user)
    if found is None:
        return absent("user", p.iam.user)
    own = sorted(
        a["PolicyName"]
        for a in found.get("AttachedPolicies", [])
        if a["PolicyName"] != CHANGE_PASSWORD  # the console's, with "reset at next sign-in"
    ) + sorted(f"{n} (inline)" for n in found.get("InlinePolicyNames", []))
    return judged(
        not own,
        f"policies of the user itself: {own}" if own else "only the group's policies",
        resource=f"user {p.iam.user}",
        expected=[],
        actual=own,
    )


@check(
    id="root_account_has_no_access_keys",
    section="iam",
    says="the root account has no access keys",
    guide="use the root account only to create the IAM user (AWS best practice)",
    severity="critical",
    risk="root access keys are unrestrictable credentials to the whole account",
)
def root_keys(inv: Inventory, p: Profile) -> Outcome:
    present = inv.account_summary().get("AccountAccessKeysPresent", 0)
    return judged(
        present == 0,
        "AccountAccessKeysPresent",
        expected=0,
        actual=present,
        resource="the root user (account summary)",
    )
