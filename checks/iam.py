"""Creating an IAM user: the administration group, its user, the root account."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runbook.findings import Outcome, absent, judged
from runbook.profile import Profile
from runbook.registry import check

if TYPE_CHECKING:
    from runbook.aws.inventory import Inventory


def expected_group_policies(p: Profile) -> set[str]:
    names = set(p.iam.group_policies)
    if p.variants.packaging == "image":
        names.add(p.iam.ecr_policy)
    return names


@check(
    id="iam_group_has_exactly_guide_policies",
    section="iam",
    says="the administration group exists with exactly the guide's policies attached",
    guide="create the user group and attach the listed AWS-managed permission policies",
)
def group_policies(inv: Inventory, p: Profile) -> Outcome:
    group = inv.group(p.iam.group)
    if group is None:
        return absent("group", p.iam.group)
    actual = sorted(a["PolicyName"] for a in group["AttachedPolicies"])
    expected = sorted(expected_group_policies(p))
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    return judged(
        not missing and not extra,
        f"missing {missing}, extra {extra}",
        expected=expected,
        actual=actual,
    )


@check(
    id="iam_user_in_group_with_console_password",
    section="iam",
    says="the administration user exists in the group with a console password",
    guide="create the IAM user with a password and attach it to the user group",
)
def user(inv: Inventory, p: Profile) -> Outcome:
    found = inv.user(p.iam.user)
    if found is None:
        return absent("user", p.iam.user)
    actual = {
        "in_group": p.iam.group in {g["GroupName"] for g in found["Groups"]},
        "console_password": found["LoginProfile"],
    }
    advisories = (
        ()
        if found["MFADevices"]
        else (f"user {p.iam.user} has no MFA device: enable MFA for console sign-in",)
    )
    return judged(
        all(actual.values()),
        "membership and login profile",
        expected={"in_group": True, "console_password": True},
        actual=actual,
        advisories=advisories,
    )


@check(
    id="root_account_has_no_access_keys",
    section="iam",
    says="the root account has no access keys",
    guide="use the root account only to create the IAM user (AWS best practice)",
)
def root_keys(inv: Inventory, p: Profile) -> Outcome:
    present = inv.account_summary().get("AccountAccessKeysPresent", 0)
    return judged(present == 0, "AccountAccessKeysPresent", expected=0, actual=present)
