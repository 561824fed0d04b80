"""Perform for the start/stop state machine and the EventBridge trigger."""

from __future__ import annotations

import json

from checks import lookup as L
from runbook.actions.base import (
    Action,
    Ctx,
    Manual,
    call,
    ensure_role,
    fixes,
    json_policy,
    with_new_role,
)
from runbook.aws.inventory import Inventory
from runbook.profile import Profile
from runbook.stepfunctions.template import guide_definition

TARGET_ID = "notifier"


def _machine_policy(ctx: Ctx) -> str:
    inst = L.db_instance(ctx.inv, ctx.p)
    fn = L.function_config(ctx.inv, ctx.p)
    account = ctx.inv.caller_identity()["Account"]
    instance_arn = f"arn:aws:ec2:{ctx.p.region}:{account}:instance/{inst['InstanceId']}"
    return json_policy(
        [
            {
                "Effect": "Allow",
                "Action": ["ec2:StartInstances", "ec2:StopInstances"],
                "Resource": instance_arn,
            },
            {"Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": "lambda:InvokeFunction",
                "Resource": [fn["FunctionArn"], fn["FunctionArn"] + ":*"],
            },
        ]
    )


def _ensure_machine_role(ctx: Ctx) -> str:
    role = ensure_role(ctx, ctx.p.step_functions.role, "states.amazonaws.com")
    ctx.client("iam").put_role_policy(
        RoleName=ctx.p.step_functions.role,
        PolicyName="start-stop-notify",
        PolicyDocument=_machine_policy(ctx),
    )
    return str(role["Role"]["Arn"])


def _definition(ctx: Ctx) -> str:
    fn = L.function_config(ctx.inv, ctx.p)
    return json.dumps(
        guide_definition(fn["FunctionArn"], max_tries=ctx.p.step_functions.max_tries), indent=2
    )


@fixes(
    "state_machine_active",
    "state_machine_every_path_stops_database",
    "state_machine_waiting_loop_bounded",
    "state_machine_invokes_notifier_with_start_time",
    "state_machine_runs_leave_database_stopped",
    "state_machine_invokes_deployed_code",
)
def machine(inv: Inventory, p: Profile) -> list[Action | Manual]:
    if L.db_instance(inv, p) is None or L.function_config(inv, p) is None:
        return [Manual("create the database instance and the function first")]
    name = L.state_machine_name(inv, p)  # the rule's target when it has one
    existing = inv.state_machine(name)
    if existing is not None and name != p.step_functions.state_machine:
        return [  # the profile names another machine than the rule starts: a person decides
            Manual(
                f"the rule starts state machine {name}, the profile names "
                f"{p.step_functions.state_machine}: set step_functions.state_machine = "
                f'"{name}", or point the rule at {p.step_functions.state_machine}'
            )
        ]

    def apply(ctx: Ctx) -> None:
        sfn = ctx.client("stepfunctions")
        role_arn = _ensure_machine_role(ctx)
        if existing is None:
            definition = _definition(ctx)
            with_new_role(
                lambda: sfn.create_state_machine(
                    name=name,
                    definition=definition,
                    roleArn=role_arn,
                    tags=[{"key": "ManagedBy", "value": "notifier-runbook"}],
                )
            )
        else:
            sfn.update_state_machine(
                stateMachineArn=existing["stateMachineArn"],
                definition=_definition(ctx),
                roleArn=role_arn,
            )

    verb = "create" if existing is None else "replace the definition of"
    role = p.step_functions.role
    calls = [call("iam", "CreateRole", RoleName=role)] if inv.role(role) is None else []
    calls.append(call("iam", "PutRolePolicy", RoleName=role, PolicyName="start-stop-notify"))
    calls.append(
        call("stepfunctions", "CreateStateMachine", name=name)
        if existing is None
        else call(
            "stepfunctions",
            "UpdateStateMachine",
            stateMachineArn=existing["stateMachineArn"],
            definition="<the guide's flow>",
        )
    )
    return [
        Action(
            f"{verb} state machine {name} with the guide's flow "
            f"(start, wait 20 s, poll every 5 s up to {p.step_functions.max_tries} times, "
            "notify with force_current_time, always stop) and role "
            f"{p.step_functions.role}",
            apply,
            tuple(calls),
        )
    ]


@fixes("state_machine_role_may_start_stop_describe_and_invoke")
def machine_role(inv: Inventory, p: Profile) -> list[Action | Manual]:
    machine_ = inv.state_machine(L.state_machine_name(inv, p))
    if machine_ is None or L.db_instance(inv, p) is None or L.function_config(inv, p) is None:
        return [Manual("create the state machine, the instance and the function first")]
    role_name = machine_["roleArn"].rsplit("/", 1)[-1]

    def apply(ctx: Ctx) -> None:
        ctx.client("iam").put_role_policy(
            RoleName=role_name, PolicyName="start-stop-notify", PolicyDocument=_machine_policy(ctx)
        )

    return [
        Action(
            f"give role {role_name} start/stop/describe on the instance and invoke on the function",
            apply,
            (call("iam", "PutRolePolicy", RoleName=role_name, PolicyName="start-stop-notify"),),
        )
    ]


@fixes("rule_fires_hourly_and_is_enabled")
def rule(inv: Inventory, p: Profile) -> list[Action | Manual]:
    def apply(ctx: Ctx) -> None:
        ctx.client("events").put_rule(
            Name=p.trigger.rule,
            ScheduleExpression=p.trigger.schedule,
            State=p.expected_rule_state,
            Tags=ctx.tag_list(),
        )

    return [
        Action(
            f"put rule {p.trigger.rule} on {p.trigger.schedule}, {p.expected_rule_state}",
            apply,
            (
                call(
                    "events",
                    "PutRule",
                    Name=p.trigger.rule,
                    ScheduleExpression=p.trigger.schedule,
                    State=p.expected_rule_state,
                ),
            ),
        )
    ]


def _runner(ctx: Ctx) -> tuple[str, str | None]:
    """The target's ARN and, for a state machine, the role EventBridge assumes to start it."""
    p = ctx.p
    if p.variants.database != "ec2":
        return L.function_config(ctx.inv, p)["FunctionArn"], None
    machine = ctx.inv.state_machine(L.state_machine_name(ctx.inv, p))
    machine_arn = machine["stateMachineArn"]
    arn = ensure_role(ctx, p.trigger.role, "events.amazonaws.com")["Role"]["Arn"]
    ctx.client("iam").put_role_policy(
        RoleName=p.trigger.role,
        PolicyName="start-execution",
        PolicyDocument=json_policy(
            [{"Effect": "Allow", "Action": "states:StartExecution", "Resource": machine_arn}]
        ),
    )
    return machine_arn, arn


@fixes(
    "rule_targets_runner_with_permission",
    "rule_input_names_actual_instance",
    "rule_target_makes_no_retries",
)
def target(inv: Inventory, p: Profile) -> list[Action | Manual]:
    runner = "state machine" if p.variants.database == "ec2" else "function"
    if inv.rule(p.trigger.rule) is None:
        return [Manual("create the rule first")]

    def apply(ctx: Ctx) -> None:
        arn, role_arn = _runner(ctx)
        data = {"config_path": p.trigger.config_path, "auth_path": p.trigger.auth_path}
        if p.variants.database == "ec2":
            data = {"db_instance_id": L.db_instance(ctx.inv, p)["InstanceId"], **data}
        entry = {
            "Id": TARGET_ID,
            "Arn": arn,
            "Input": json.dumps(data),
            "RetryPolicy": {"MaximumRetryAttempts": 0},
        }
        if role_arn:
            entry["RoleArn"] = role_arn
        events = ctx.client("events")
        stale = [t["Id"] for t in ctx.inv.rule_targets(p.trigger.rule) if t["Id"] != TARGET_ID]
        if stale:
            events.remove_targets(Rule=p.trigger.rule, Ids=stale)
        events.put_targets(Rule=p.trigger.rule, Targets=[entry])
        sid = f"{p.trigger.rule}-invoke"
        policy = ctx.inv.function_policy(p.function.function) or {"Statement": []}
        if role_arn is None and sid not in {s.get("Sid") for s in policy["Statement"]}:
            rule_arn = ctx.inv.rule(p.trigger.rule)["Arn"]
            ctx.client("lambda").add_permission(
                FunctionName=p.function.function,
                StatementId=sid,
                Action="lambda:InvokeFunction",
                Principal="events.amazonaws.com",
                SourceArn=rule_arn,
            )

    calls = []
    if p.variants.database == "ec2":
        if inv.role(p.trigger.role) is None:
            calls.append(call("iam", "CreateRole", RoleName=p.trigger.role))
        calls.append(
            call("iam", "PutRolePolicy", RoleName=p.trigger.role, PolicyName="start-execution")
        )
    stale = [t["Id"] for t in inv.rule_targets(p.trigger.rule) if t["Id"] != TARGET_ID]
    if stale:
        calls.append(call("events", "RemoveTargets", Rule=p.trigger.rule, Ids=stale))
    calls.append(call("events", "PutTargets", Rule=p.trigger.rule, Id=TARGET_ID, Retries=0))
    policy = inv.function_policy(p.function.function) or {"Statement": []}
    sid = f"{p.trigger.rule}-invoke"
    if p.variants.database != "ec2" and sid not in {s.get("Sid") for s in policy["Statement"]}:
        calls.append(
            call(
                "lambda",
                "AddPermission",
                FunctionName=p.function.function,
                StatementId=sid,
                Principal="events.amazonaws.com",
            )
        )
    return [
        Action(
            f"target the {runner} from {p.trigger.rule} with constant input (config, auth"
            f"{', db_instance_id' if runner == 'state machine' else ''}) and 0 retries; remove "
            "its other targets",
            apply,
            tuple(calls),
        )
    ]
