"""Start/stop the database using Step Functions; adding the Lambda trigger."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from checks import lookup as L
from checks.cron import ScheduleError, next_fire_times
from checks.evaluation import role_may
from runbook.findings import Outcome, Status, absent, failed, judged
from runbook.profile import Profile
from runbook.registry import check
from runbook.stepfunctions.graph import DefinitionError, FlowAnalysis, analyse, parse_definition

if TYPE_CHECKING:
    from runbook.aws.inventory import Inventory


def _machine_or_fail(inv: Inventory, p: Profile) -> tuple[dict | None, Outcome | None]:
    name = L.state_machine_name(inv, p)
    machine = inv.state_machine(name)
    if machine is None:
        return None, absent("state machine", name)
    return machine, None


def _flow(inv: Inventory, p: Profile) -> tuple[FlowAnalysis | None, Outcome | None]:
    machine, missing = _machine_or_fail(inv, p)
    if missing:
        return None, missing
    try:
        return analyse(parse_definition(machine["definition"])), None
    except DefinitionError as exc:
        return None, failed(f"definition unreadable: {exc}", expected="valid ASL", actual=str(exc))


@check(
    id="state_machine_active",
    section="step_functions",
    says="the state machine is ACTIVE",
    guide="create the state machine (in the default VPC, outside the notifier's)",
    severity="high",
    risk="a state machine that is not ACTIVE runs nothing",
)
def machine_active(inv: Inventory, p: Profile) -> Outcome:
    machine, missing = _machine_or_fail(inv, p)
    if missing:
        return missing
    renamed = L.name_mismatch(
        p, "step_functions.state_machine", machine["name"], "the state machine the rule starts"
    )
    if renamed:
        return renamed
    return judged(
        machine.get("status") == "ACTIVE",
        "status",
        expected="ACTIVE",
        actual=machine.get("status"),
        evidence={"arn": machine["stateMachineArn"]},
    )


@check(
    id="state_machine_every_path_stops_database",
    section="step_functions",
    says="every path from start to end of the state machine stops the database instance",
    guide="shut down the instance after the notifier runs; errors are caught and also stop it",
    severity="high",
    risk="a path that skips the stop leaves the database running (and billing) until the next hour",
)
def every_path_stops(inv: Inventory, p: Profile) -> Outcome:
    flow, missing = _flow(inv, p)
    if missing:
        return missing
    paths = [" → ".join(x) for x in (*flow.paths_without_stop, *flow.error_exits_without_stop)]
    starts_and_stops = bool(flow.start_states) and bool(flow.stop_states)
    return judged(
        flow.always_stops and starts_and_stops,
        f"{len(paths)} path(s) end without stopping the instance",
        expected={"paths_without_stop": [], "starts_and_stops": True, "truncated": False},
        actual={
            "paths_without_stop": paths[:5],
            "starts_and_stops": starts_and_stops,
            "truncated": flow.paths_truncated,
        },
        evidence={"start": list(flow.start_states), "stop": list(flow.stop_states)},
    )


@check(
    id="state_machine_waiting_loop_bounded",
    section="step_functions",
    says="the state machine's waiting loop is bounded by a counter",
    guide="a counter is incremented that breaks the loop with an error after a few tries",
    severity="medium",
    risk="an unbounded wait for an instance that never runs keeps the execution going for up "
    "to a year",
)
def loop_bounded(inv: Inventory, p: Profile) -> Outcome:
    flow, missing = _flow(inv, p)
    if missing:
        return missing
    loops = [" → ".join(c) for c in flow.unbounded_loops]
    return judged(
        not loops and bool(flow.describe_states),
        "loops without a bounding counter",
        expected={"unbounded_loops": [], "polls_instance_state": True},
        actual={"unbounded_loops": loops, "polls_instance_state": bool(flow.describe_states)},
    )


@check(
    id="state_machine_invokes_notifier_with_start_time",
    section="step_functions",
    says="the state machine invokes the notifier with force_current_time from its start time",
    guide='the payload to the Lambda includes "force_current_time.$": "$$.Execution.StartTime"',
    severity="high",
    risk="without the execution's start time the notifier's 'now' drifts: notifications for "
    "the wrong hours",
)
def invokes_with_start_time(inv: Inventory, p: Profile) -> Outcome:
    flow, missing = _flow(inv, p)
    if missing:
        return missing
    keys = sorted({k for ks in flow.payload_keys.values() for k in ks})
    actual = {
        "functions": sorted(set(flow.invoked_functions)),
        "force_current_time_from_start_time": flow.force_current_time_from_start_time,
        "payload_keys": keys,
        "after_start": flow.reaches_invoke_after_start,
    }
    expected = {
        "functions": [p.function.function],
        "force_current_time_from_start_time": True,
        "payload_keys": "config_path and auth_path among them",
        "after_start": True,
    }
    ok = (
        actual["functions"] == expected["functions"]
        and flow.force_current_time_from_start_time
        and flow.reaches_invoke_after_start
        and {"config_path", "auth_path"} <= set(keys)
    )
    return judged(ok, "Lambda invocation", expected=expected, actual=actual)


@check(
    id="state_machine_runs_leave_database_stopped",
    section="step_functions",
    says="run locally in four scenarios, the state machine always leaves the database stopped",
    guide="start, wait, loop, notify, stop; errors also lead to stopping the instance",
    severity="high",
    risk="a run that leaves the database running bills it all day",
)
def simulated_runs(inv: Inventory, p: Profile) -> Outcome:
    _, missing = _machine_or_fail(inv, p)
    if missing:
        return missing
    runs = inv.state_machine_simulation(L.state_machine_name(inv, p), p.function.function)
    unrun = [r for r in runs if r["execution_status"] == "NOT_RUN"]
    if unrun:  # the local interpreter's limit, not a verdict on the deployment
        return Outcome(
            Status.ERROR,
            f"could not simulate: {unrun[0]['error']}",
            evidence={"cause": "simulator"},
        )
    actual = {r["scenario"]: r["final_instance_state"] for r in runs}
    happy = [r for r in runs if r["scenario"] == "happy-path"]
    payloads = happy[0]["lambda_payloads"] if happy else []
    got_time = bool(payloads) and all("force_current_time" in pl for pl in payloads)
    ok = all(state == "stopped" for state in actual.values()) and got_time
    return judged(
        ok,
        "final instance state per scenario",
        expected={
            **{r["scenario"]: "stopped" for r in runs},
            "lambda_received_force_current_time": True,
        },
        actual={**actual, "lambda_received_force_current_time": got_time},
        evidence=[
            {k: r[k] for k in ("scenario", "execution_status", "states_visited", "error")}
            for r in runs
        ],
    )


# An instance id no deployment has: may the role stop *that* one too (i.e. every instance)?
OTHER_INSTANCE = "i-00000000000000000"


def instance_arn(near: str, instance_id: str) -> str:
    """The ARN of an instance in the account and region of ``near`` (another ARN)."""
    _, partition, _, region, account, *_ = near.split(":")
    return f"arn:{partition}:ec2:{region}:{account}:instance/{instance_id}"


@check(
    id="state_machine_role_may_start_stop_describe_and_invoke",
    section="step_functions",
    says="the state machine's role may start, stop and describe the instance and invoke the "
    "function",
    guide="the state machine's role (created with it) needs EC2 start/stop/describe and "
    "Lambda invoke; IAM's own evaluation must allow exactly those calls",
    severity="high",
    risk="the state machine cannot start, stop or invoke: every run fails",
)
def machine_role(inv: Inventory, p: Profile) -> Outcome:
    machine, missing = _machine_or_fail(inv, p)
    if missing:
        return missing
    inst = L.db_instance(inv, p)
    cfg = L.function_config(inv, p)
    if inst is None or cfg is None:
        return failed(
            "instance or function missing",
            expected="both exist",
            actual={"instance": bool(inst), "function": bool(cfg)},
        )
    arn = instance_arn(machine["stateMachineArn"], inst["InstanceId"])
    needs = [
        ("ec2:StartInstances", arn),
        ("ec2:StopInstances", arn),
        ("ec2:DescribeInstances", "*"),
        ("lambda:InvokeFunction", invoked_arn(inv, p, cfg["FunctionArn"])),
    ]
    other = instance_arn(machine["stateMachineArn"], OTHER_INSTANCE)
    return role_may(
        inv,
        machine.get("roleArn"),
        "states.amazonaws.com",
        needs,
        "the state machine",
        wider=(
            ("ec2:StopInstances", other),
            f"hardening beyond the guide: the state machine's role may stop every instance of "
            f"the account; scope ec2:StartInstances/StopInstances to {arn}",
        ),
    )


def invoked_arn(inv: Inventory, p: Profile, function_arn: str) -> str:
    """The function ARN as the state machine invokes it (with its version or alias, if any)."""
    flow, _ = _flow(inv, p)
    qualifier = _qualifier_of(flow, p) if flow else None
    return f"{function_arn}:{qualifier}" if qualifier else function_arn


def _qualifier_of(flow: FlowAnalysis, p: Profile) -> str | None:
    qualifiers = {q for f, q in flow.invoked_qualifiers if f == p.function.function and q}
    return sorted(qualifiers)[0] if len(qualifiers) == 1 else None


@check(
    id="state_machine_invokes_deployed_code",
    section="step_functions",
    says="the state machine invokes the function's deployed code, not an older version",
    guide="the Lambda task names the function (or an alias of its current version), so a "
    "redeployment reaches the runs",
    severity="high",
    risk="runs keep an old version: a redeployment never reaches them",
)
def invokes_deployed_code(inv: Inventory, p: Profile) -> Outcome:
    flow, missing = _flow(inv, p)
    if missing:
        return missing
    cfg = L.function_config(inv, p)
    if cfg is None:
        return absent("function", p.function.function)
    named = sorted(
        {(f, q or "$LATEST") for f, q in flow.invoked_qualifiers if f == p.function.function}
    )
    deployed = cfg.get("CodeSha256")
    actual = {}
    for _, qualifier in named:
        version = (
            cfg if qualifier == "$LATEST" else inv.function_version(p.function.function, qualifier)
        )
        actual[qualifier] = (
            "missing"
            if version is None
            else "the deployed code"
            if version.get("CodeSha256") == deployed
            else f"older code (version {version.get('Version')}, {version.get('CodeSha256')})"
        )
    ok = bool(actual) and all(v == "the deployed code" for v in actual.values())
    return judged(
        ok,
        "invoked: " + (", ".join(f"{q}: {v}" for q, v in actual.items()) or "nothing"),
        expected={q: "the deployed code" for q in actual} or {"$LATEST": "the deployed code"},
        actual=actual,
        evidence={"deployed_CodeSha256": deployed},
    )


def _rule_or_fail(inv: Inventory, p: Profile) -> tuple[dict | None, Outcome | None]:
    rule = inv.rule(p.trigger.rule)
    if rule is None:
        return None, absent("rule", p.trigger.rule)
    return rule, None


@check(
    id="rule_fires_hourly_and_is_enabled",
    section="trigger",
    says="the rule fires on the profile's schedule and its state suits the phase",
    guide="schedule expression cron(0 * * * ? *); disable it only while setting up",
    severity="high",
    risk="the notifier does not run every hour",
)
def rule_schedule(inv: Inventory, p: Profile) -> Outcome:
    rule, missing = _rule_or_fail(inv, p)
    if missing:
        return missing
    expr = rule.get("ScheduleExpression", "")
    try:
        fire = [t.strftime("%Y-%m-%d %H:%M UTC") for t in next_fire_times(expr, datetime.now(UTC))]
    except ScheduleError as exc:
        return failed(f"invalid schedule: {exc}", expected=p.trigger.schedule, actual=expr)
    actual = {"schedule": expr, "state": rule.get("State")}
    expected = {"schedule": p.trigger.schedule, "state": p.expected_rule_state}
    return judged(
        actual == expected,
        f"{expr}, {rule.get('State')}; next fire times {', '.join(fire)}",
        expected=expected,
        actual=actual,
        next_fire_times=fire,
    )


def _runner(inv: Inventory, p: Profile) -> tuple[str, str | None]:
    """What the rule must start (the state machine, or the function with Aurora) and its ARN."""
    if p.variants.database == "ec2":
        name = L.state_machine_name(inv, p)
        machine = inv.state_machine(name)
        return f"state machine {name}", machine["stateMachineArn"] if machine else None
    cfg = L.function_config(inv, p)
    return f"function {p.function.function}", cfg["FunctionArn"] if cfg else None


def _the_target(inv: Inventory, p: Profile) -> tuple[dict | None, Outcome | None]:
    _, missing = _rule_or_fail(inv, p)
    if missing:
        return None, missing
    runner, arn = _runner(inv, p)
    found = [t["Arn"] for t in inv.rule_targets(p.trigger.rule)]
    targets = [t for t in inv.rule_targets(p.trigger.rule) if t["Arn"] == arn]
    if not targets:
        why = "does not exist" if arn is None else "is not among the rule's targets"
        return None, failed(
            f"the rule targets {', '.join(found) or 'nothing'}; the {runner} {why}",
            expected=arn or runner,
            actual=found,
        )
    return targets[0], None


@check(
    id="rule_targets_runner_with_permission",
    section="trigger",
    says="the rule targets only the runner: the state machine with a role that may start it, or "
    "the function with leave to invoke it",
    guide="the EventBridge trigger runs the Step Functions flow (EC2, through a role that may "
    "start it) or the Lambda (Aurora); nothing else",
    severity="high",
    risk="the rule starts nothing, or cannot, or starts something else besides: runs fail or "
    "repeat",
)
def rule_target(inv: Inventory, p: Profile) -> Outcome:
    target, missing = _the_target(inv, p)
    if missing:
        return missing
    others = [t["Arn"] for t in inv.rule_targets(p.trigger.rule) if t["Id"] != target["Id"]]
    if others:
        return failed(
            f"the rule also targets {', '.join(others)}",
            expected=[target["Arn"]],
            actual=[t["Arn"] for t in inv.rule_targets(p.trigger.rule)],
        )
    if p.variants.database == "ec2":
        return role_may(
            inv,
            target.get("RoleArn"),
            "events.amazonaws.com",
            [("states:StartExecution", target["Arn"])],
            "the rule's target",
        )
    rule = inv.rule(p.trigger.rule)
    policy = inv.function_policy(p.function.function) or {"Statement": []}
    granted = [
        s
        for s in policy.get("Statement", [])
        if _service_principal(s) == "events.amazonaws.com"
        and s.get("Effect") == "Allow"
        and json.dumps(s.get("Condition", {})).find(rule["Arn"]) >= 0
    ]
    return judged(
        bool(granted),
        "resource policy for events.amazonaws.com",
        expected=f"allow from {rule['Arn']}",
        actual=[s.get("Sid") for s in granted],
    )


def _service_principal(statement: dict[str, Any]) -> str | None:
    """The Service of a statement's principal; '*' or an AWS principal has none."""
    principal = statement.get("Principal")
    return principal.get("Service") if isinstance(principal, dict) else None


@check(
    id="rule_input_names_actual_instance",
    section="trigger",
    says="the rule's constant input names the config, the auth file and the actual database",
    guide='constant JSON input with db_instance_id, "config/config.toml" and '
    '"config/auth.lambda.toml"',
    severity="high",
    risk="the runs start another instance, or none, or read the wrong configuration",
)
def rule_input(inv: Inventory, p: Profile) -> Outcome:
    target, missing = _the_target(inv, p)
    if missing:
        return missing
    try:
        data: Any = json.loads(target.get("Input") or "null")
    except ValueError:
        return failed("the input is not JSON", expected="constant JSON", actual="not JSON")
    if not isinstance(data, dict):
        return failed(
            "the input is not a JSON object", expected="an object", actual=type(data).__name__
        )
    expected = {"config_path": p.trigger.config_path, "auth_path": p.trigger.auth_path}
    if p.variants.database == "ec2":
        inst = L.db_instance(inv, p)
        expected["db_instance_id"] = inst["InstanceId"] if inst else "(the database instance)"
    actual = {k: data.get(k) for k in expected}
    extra = sorted(set(data) - set(expected))
    return judged(
        actual == expected,
        "constant input",
        expected=expected,
        actual=actual,
        advisories=(f"extra input keys {extra}",) if extra else (),
    )


@check(
    id="rule_target_makes_no_retries",
    section="trigger",
    says="the rule's target makes no retry attempts",
    guide="under Retry policy, set the number of retry attempts to 0",
    severity="medium",
    risk="a retried run sends its notifications again",
)
def rule_retries(inv: Inventory, p: Profile) -> Outcome:
    target, missing = _the_target(inv, p)
    if missing:
        return missing
    retries = (target.get("RetryPolicy") or {}).get("MaximumRetryAttempts", 185)
    return judged(retries == 0, "MaximumRetryAttempts", expected=0, actual=retries)
