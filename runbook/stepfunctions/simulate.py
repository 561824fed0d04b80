"""Run a deployed Step Functions definition in a local, in-process AWS simulation (moto).

Structure alone cannot show that the flow *behaves*: that a failed start still stops the
instance, or what payload the notifier really receives. So the definition is executed by moto's
ASL interpreter against a simulated stopped instance and notifier, once per fault scenario.

Nothing here may reach a real endpoint: while simulating, every ``AWS_*`` variable (endpoint
overrides included; the lab points ``AWS_ENDPOINT_URL`` at a loopback moto server, and a custom
endpoint bypasses the in-process mock) is replaced by dummy credentials and an empty config, and
botocore's HTTP sender refuses to send. The environment is restored exactly afterwards.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import os
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from typing import Any
from unittest import mock

import boto3
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from botocore.httpsession import URLLib3Session
from moto import mock_aws, settings
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.instances import InstanceBackend, InstanceState

from runbook.stepfunctions.graph import DefinitionError, iter_states, parse_definition

SCENARIOS = ("happy-path", "start-fails", "never-running", "lambda-fails")
EXECUTION_INPUT = {"config_path": "config/config.toml", "auth_path": "config/auth.lambda.toml"}
"""The EventBridge target's constant input, less the instance id the simulation supplies."""

_REGION = "us-east-1"
_MOCK_CONFIG: Any = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}
_DUMMY_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "simulation",
    "AWS_SECRET_ACCESS_KEY": "simulation",
    "AWS_SESSION_TOKEN": "simulation",
    "AWS_DEFAULT_REGION": _REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}
_POLL_SECONDS = 0.02
_THREAD_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class ScenarioResult:
    """How one simulated run ended.

    ``execution_status`` is the execution's status, ``TIMED_OUT`` when it was still running at
    the time limit (it is then aborted), or ``NOT_RUN`` when the simulation could not start it.
    ``lambda_payloads`` are the decoded payloads the simulated notifier received, in order.
    """

    scenario: str
    execution_status: str
    final_instance_state: str | None
    lambda_payloads: tuple[Any, ...]
    states_visited: tuple[str, ...]
    error: str | None


def simulate(
    definition_text: str,
    *,
    function_name: str,
    scenarios: Sequence[str] = SCENARIOS,
    timeout_s: float = 30.0,
) -> tuple[ScenarioResult, ...]:
    """Execute the definition once per scenario, each in a fresh simulated account.

    Waits are shortened to 0 s and retry intervals to 1 s; Lambda function ARNs are pointed at
    the simulated account and region, keeping the function name and dropping any qualifier (the
    simulation has one version). ``function_name`` is the notifier the simulation provides.

    moto's mock and the sandbox are process-wide: while this runs, no other thread should call
    AWS (its calls are intercepted or refused), and it must not run inside an active
    ``mock_aws`` (nested mocks share, and would leak into, the outer mock's state).
    """
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; known: {list(SCENARIOS)}")
    try:
        definition = _simulation_copy(parse_definition(definition_text))
    except DefinitionError as exc:
        return tuple(_not_run(scenario, str(exc)) for scenario in scenarios)
    if settings.TEST_SERVER_MODE:
        reason = "moto is in server mode (TEST_SERVER_MODE), so it cannot simulate in-process"
        return tuple(_not_run(scenario, reason) for scenario in scenarios)
    with _isolated_environment():
        session = boto3.session.Session(region_name=_REGION)  # reused: loading models is slow
        return tuple(
            _run_scenario(session, definition, function_name, scenario, timeout_s)
            for scenario in scenarios
        )


def _not_run(scenario: str, error: object) -> ScenarioResult:
    return ScenarioResult(scenario, "NOT_RUN", None, (), (), _one_line(error))


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _simulated_function_arn(reference: str) -> str:
    """Point a function reference at the simulated account/region, keeping only its name."""
    name = reference.split(":function:", 1)[1] if ":function:" in reference else reference
    return f"arn:aws:lambda:{_REGION}:{DEFAULT_ACCOUNT_ID}:function:{name.split(':', 1)[0]}"


def _simulation_copy(definition: dict[str, Any]) -> dict[str, Any]:
    """A copy that runs in seconds and invokes the simulated notifier."""
    simulated = copy.deepcopy(definition)
    for _, state in iter_states(simulated):
        if state.get("Type") == "Wait":
            for key in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath"):
                state.pop(key, None)
            state["Seconds"] = 0
        retriers = state.get("Retry")
        for retrier in retriers if isinstance(retriers, list) else []:
            if isinstance(retrier, dict):
                retrier.update(IntervalSeconds=1, MaxDelaySeconds=1)
        resource = state.get("Resource")
        if isinstance(resource, str) and resource.startswith("arn:") and ":function:" in resource:
            state["Resource"] = _simulated_function_arn(resource)
        for key in ("Parameters", "Arguments"):
            arguments = state.get(key)
            function = arguments.get("FunctionName") if isinstance(arguments, dict) else None
            if isinstance(function, str) and ":" in function and not function.startswith("{%"):
                arguments["FunctionName"] = _simulated_function_arn(function)
    return simulated


@contextmanager
def _isolated_environment() -> Iterator[None]:
    """Dummy credentials, no endpoint overrides or profiles, no HTTP, no AMI catalogue (it costs
    0.7 s per account) and a quiet interpreter; all restored exactly afterwards."""
    saved = dict(os.environ)
    for key in [key for key in os.environ if key.startswith("AWS_")] + ["TEST_PROXY_MODE"]:
        os.environ.pop(key, None)
    os.environ.update(_DUMMY_ENVIRONMENT)
    interpreter_log = logging.getLogger("moto.stepfunctions.parser")
    saved_level = interpreter_log.level
    interpreter_log.setLevel(logging.CRITICAL)  # it logs every caught failure as an error
    try:
        with mock.patch.object(URLLib3Session, "send", _refuse_to_send):
            yield
    finally:
        interpreter_log.setLevel(saved_level)
        for key in set(os.environ) - set(saved):
            del os.environ[key]
        for key, value in saved.items():
            if os.environ.get(key) != value:
                os.environ[key] = value


def _refuse_to_send(_session: URLLib3Session, request: Any) -> Any:
    """A request moto did not intercept would leave the process: fail it instead."""
    raise EndpointConnectionError(endpoint_url=request.url)


def _run_scenario(
    session: boto3.session.Session,
    definition: dict[str, Any],
    function_name: str,
    scenario: str,
    timeout_s: float,
) -> ScenarioResult:
    """One fresh simulated account: instance, notifier, role, state machine, one execution."""
    received: list[Any] = []
    with mock_aws(config=_MOCK_CONFIG), ExitStack() as faults:
        faults.enter_context(
            mock.patch.object(
                LambdaSimpleBackend,
                "invoke",
                _notifier(received, failing=scenario == "lambda-fails"),
            )
        )
        if scenario in ("start-fails", "never-running"):
            faults.enter_context(
                mock.patch.object(InstanceBackend, "start_instances", _START_FAULTS[scenario])
            )
        ec2 = session.client("ec2")
        sfn = session.client("stepfunctions")
        threads_before = set(threading.enumerate())
        try:
            instance_id = _stopped_instance(ec2)
            machine_arn = _state_machine(session, definition, function_name)
            execution_arn = sfn.start_execution(
                stateMachineArn=machine_arn,
                name=f"simulation-{scenario}",
                input=json.dumps({"db_instance_id": instance_id, **EXECUTION_INPUT}),
            )["executionArn"]
        except (ClientError, BotoCoreError) as exc:
            return _not_run(scenario, exc)
        status, error = _await_end(sfn, execution_arn, timeout_s)
        lingering = _join_new_threads(threads_before)
        if lingering:
            error = _one_line(f"{error or ''} {lingering} interpreter thread(s) still running")
        return ScenarioResult(
            scenario=scenario,
            execution_status=status,
            final_instance_state=_instance_state(ec2, instance_id),
            lambda_payloads=tuple(received),
            states_visited=_states_entered(sfn, execution_arn),
            error=error,
        )


def _notifier(received: list[Any], *, failing: bool) -> Callable[..., bytes]:
    """The simulated notifier: records each payload, then answers or fails like a crash.

    moto's Docker-less Lambda echoes any invoke, even of a function that does not exist; looking
    the function up first restores the real ResourceNotFoundException for a wrong name.
    """

    def invoke(
        backend: LambdaSimpleBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, str],
    ) -> bytes:
        backend.get_function(function_name, qualifier)
        text = body.decode() if isinstance(body, bytes) else body or "{}"
        try:
            received.append(json.loads(text))
        except json.JSONDecodeError:
            received.append(text)
        if failing:
            response_headers["x-amz-function-error"] = "Unhandled"
            crash = {"errorType": "SimulatedFailure", "errorMessage": "the notifier crashed"}
            return json.dumps(crash).encode()
        return text.encode()

    return invoke


def _refuse_start(_backend: InstanceBackend, _instance_ids: list[str]) -> Any:
    raise EC2ClientError(
        "InsufficientInstanceCapacity", "Simulated: no capacity to start the instance."
    )


def _start_but_stay_pending(backend: InstanceBackend, instance_ids: list[str]) -> Any:
    """StartInstances succeeds, yet the instance never leaves ``pending``."""
    started = []
    for instance in backend.get_multi_instances_by_id(instance_ids):
        started.append((instance, copy.copy(instance._state)))
        instance._state = InstanceState("pending", 0)
    return started


_START_FAULTS = {"start-fails": _refuse_start, "never-running": _start_but_stay_pending}


def _stopped_instance(ec2: Any) -> str:
    """The simulated database: an EC2 instance that is stopped, as between hourly runs."""
    (instance,) = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"]
    instance_id = instance["InstanceId"]
    ec2.stop_instances(InstanceIds=[instance_id])
    return instance_id


def _state_machine(
    session: boto3.session.Session, definition: dict[str, Any], function_name: str
) -> str:
    """Create the role, the notifier function and the state machine; return the machine ARN."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["states.amazonaws.com", "lambda.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role_arn = session.client("iam").create_role(
        RoleName="simulation-role", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr(
            "lambda_function.py", "def lambda_handler(event, context):\n    return 0\n"
        )
    session.client("lambda").create_function(
        FunctionName=function_name,
        Runtime="python3.12",
        Role=role_arn,
        Handler="lambda_function.lambda_handler",
        Code={"ZipFile": code.getvalue()},
    )
    return session.client("stepfunctions").create_state_machine(
        name="simulation", definition=json.dumps(definition), roleArn=role_arn
    )["stateMachineArn"]


def _await_end(sfn: Any, execution_arn: str, timeout_s: float) -> tuple[str, str | None]:
    """Poll until the execution ends; past the time limit abort it and say TIMED_OUT."""
    deadline = time.monotonic() + timeout_s
    while True:
        execution = sfn.describe_execution(executionArn=execution_arn)
        status = execution["status"]
        if status != "RUNNING":
            break
        if time.monotonic() >= deadline:
            sfn.stop_execution(executionArn=execution_arn, error="SimulationTimeout")
            return "TIMED_OUT", f"still running after {timeout_s:g} s in the simulation; aborted"
        time.sleep(_POLL_SECONDS)
    if status == "SUCCEEDED":
        return status, None
    detail = ": ".join(str(execution[key]) for key in ("error", "cause") if execution.get(key))
    return status, _one_line(detail or status)


def _join_new_threads(before: set[threading.Thread]) -> int:
    """Let the interpreter's threads finish inside the sandbox; return how many did not."""
    deadline = time.monotonic() + _THREAD_GRACE_SECONDS
    new = [thread for thread in threading.enumerate() if thread not in before]
    for thread in new:
        thread.join(max(0.0, deadline - time.monotonic()))
    return sum(thread.is_alive() for thread in new)


def _instance_state(ec2: Any, instance_id: str) -> str:
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return reservations[0]["Instances"][0]["State"]["Name"]


def _states_entered(sfn: Any, execution_arn: str) -> tuple[str, ...]:
    """State names in the order the execution entered them, from its history."""
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
    return tuple(
        event["stateEnteredEventDetails"]["name"]
        for page in pages
        for event in page["events"]
        if event["type"].endswith("StateEntered")
    )


def main() -> None:
    """``python -m runbook.stepfunctions.simulate``: ``{"definition", "function_name"}`` as
    JSON on stdin; the results as one JSON line, the last of stdout. In a process of its own
    the simulation runs beside the run's reads (moto's mock is process-wide), and the ~450k
    objects moto leaves go with the process (its exit skips the interpreter's teardown)."""
    asked = json.load(sys.stdin)
    results = simulate(asked["definition"], function_name=asked["function_name"])
    sys.stdout.write("\n" + json.dumps([asdict(r) for r in results]) + "\n")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
