"""Perform for the IAM user and group (no password is ever printed or stored)."""

from __future__ import annotations

import secrets

from checks.iam import CHANGE_PASSWORD, group_policy_diff
from runbook.actions.base import Action, Ctx, Manual, call, fixes, json_policy, manual
from runbook.aws.inventory import Inventory
from runbook.profile import Profile


def _policy_arn(ctx: Ctx, name: str) -> str:
    if name == ctx.p.iam.ecr_policy:
        found = ctx.inv.local_policy(name)
        if found:
            return found["Policy"]["Arn"]
        region, repo = ctx.p.region, ctx.p.redeployment.ecr_repository
        account = ctx.inv.caller_identity()["Account"]
        created = ctx.client("iam").create_policy(
            PolicyName=name,
            Tags=ctx.tag_list(),
            PolicyDocument=json_policy(
                [
                    {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
                    {
                        "Effect": "Allow",
                        "Action": ["ecr:*"],
                        "Resource": f"arn:aws:ecr:{region}:{account}:repository/{repo}",
                    },
                ]
            ),
        )
        return created["Policy"]["Arn"]
    return f"arn:aws:iam::aws:policy/{name}"


@fixes("iam_group_has_exactly_guide_policies")
def group(inv: Inventory, p: Profile) -> list[Action | Manual]:
    found = inv.group(p.iam.group)
    missing, extra = group_policy_diff(p, found["AttachedPolicies"] if found else [])
    extra += [f"{n} (inline)" for n in (found or {}).get("InlinePolicyNames", [])]
    steps: list[Action | Manual] = []
    if found is None or missing:

        def apply(ctx: Ctx) -> None:
            iam = ctx.client("iam")
            if found is None:
                iam.create_group(GroupName=p.iam.group)
            for name in missing:
                iam.attach_group_policy(GroupName=p.iam.group, PolicyArn=_policy_arn(ctx, name))

        what = f"create group {p.iam.group}; " if found is None else ""
        calls = [call("iam", "CreateGroup", GroupName=p.iam.group)] if found is None else []
        for name in missing:
            if name == p.iam.ecr_policy and inv.local_policy(name) is None:
                calls.append(call("iam", "CreatePolicy", PolicyName=name))
            calls.append(call("iam", "AttachGroupPolicy", GroupName=p.iam.group, PolicyName=name))
        steps.append(Action(f"{what}attach {', '.join(missing)}", apply, tuple(calls)))
    if extra:
        steps.append(
            Manual(
                f"detach (or delete, if inline) {', '.join(extra)} from {p.iam.group}: the "
                "guide's list is all it needs (perform never detaches)"
            )
        )
    return steps


@fixes("iam_user_in_group_with_console_password")
def user(inv: Inventory, p: Profile) -> list[Action | Manual]:
    found = inv.user(p.iam.user)

    create = found is None
    add = create or p.iam.group not in {g["GroupName"] for g in found["Groups"]}
    login = create or not found["LoginProfile"]

    def apply(ctx: Ctx) -> None:
        iam = ctx.client("iam")
        if create:
            iam.create_user(UserName=p.iam.user, Tags=ctx.tag_list())
        if add:
            iam.add_user_to_group(GroupName=p.iam.group, UserName=p.iam.user)
        if login:
            # A throwaway password nobody sees: the user must set one on first sign-in.
            iam.create_login_profile(
                UserName=p.iam.user, Password=_throwaway_password(), PasswordResetRequired=True
            )

    calls = [
        c
        for needed, c in (
            (create, call("iam", "CreateUser", UserName=p.iam.user)),
            (add, call("iam", "AddUserToGroup", GroupName=p.iam.group, UserName=p.iam.user)),
            (
                login,
                call(
                    "iam",
                    "CreateLoginProfile",
                    UserName=p.iam.user,
                    Password="<not shown>",
                    PasswordResetRequired=True,
                ),
            ),
        )
        if needed
    ]
    words = [
        w
        for needed, w in (
            (create, f"create user {p.iam.user}"),
            (add, f"add it to {p.iam.group}"),
            (
                login,
                "give it a console login that must be reset (set it with 'aws iam "
                "update-login-profile'; no password is shown)",
            ),
        )
        if needed
    ]
    steps: list[Action | Manual] = [Action("; ".join(words), apply, tuple(calls))] if calls else []
    others = sorted({g["GroupName"] for g in (found or {}).get("Groups", [])} - {p.iam.group})
    if others:
        steps.append(
            Manual(
                f"remove {p.iam.user} from {', '.join(others)} (IAM > Users > {p.iam.user} > "
                "Groups; perform never removes)"
            )
        )
    return steps


@fixes("iam_user_has_no_policies_of_its_own")
def user_policies(inv: Inventory, p: Profile) -> list[Action | Manual]:
    found = inv.user(p.iam.user)
    if found is None:  # nothing of its own yet: the user is made without any
        return [Manual(f"create the user {p.iam.user} first (it is made without policies)")]
    own = [
        a["PolicyName"]
        for a in found.get("AttachedPolicies", [])
        if a["PolicyName"] != CHANGE_PASSWORD
    ]
    own += [f"{n} (inline)" for n in found.get("InlinePolicyNames", [])]
    return [
        Manual(
            f"detach {', '.join(own)} from the user {p.iam.user} (IAM > Users > {p.iam.user} > "
            f"Permissions): it gets its permissions from {p.iam.group} only; perform never "
            "detaches"
        )
    ]


def _throwaway_password() -> str:
    return secrets.token_urlsafe(24) + "aA1!"


fixes("root_account_has_no_access_keys")(
    manual("sign in as root, open Security credentials and delete the root access keys")
)
