"""The simulation runs the flow in moto's interpreter and must never leave the process."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from runbook.stepfunctions.simulate import EXECUTION_INPUT, SCENARIOS, ScenarioResult, simulate
from runbook.stepfunctions.template import guide_definition

FUNCTION = "WikidotNotifier"
DEPLOYED_ARN = f"arn:aws:lambda:eu-west-2:111122223333:function:{FUNCTION}"


def flow(function_arn: str = DEPLOYED_ARN) -> dict[str, Any]:
    return guide_definition(function_arn)


def run(definition: dict[str, Any] | str, *scenarios: str, **options: Any) -> ScenarioResult:
    text = definition if isinstance(definition, str) else json.dumps(definition)
    (result,) = simulate(text, function_name=FUNCTION, scenarios=scenarios, **options)
    return result


@pytest.fixture(scope="module")
def template_results() -> dict[str, ScenarioResult]:
    results = simulate(json.dumps(flow()), function_name=FUNCTION)
    return {result.scenario: result for result in results}


def test_template_always_ends_stopped(template_results: dict[str, ScenarioResult]) -> None:
    assert tuple(template_results) == SCENARIOS
    assert {r.final_instance_state for r in template_results.values()} == {"stopped"}
    assert {r.error is None for r in template_results.values()} == {False, True}


def test_template_happy_path(template_results: dict[str, ScenarioResult]) -> None:
    result = template_results["happy-path"]
    assert result.execution_status == "SUCCEEDED"
    assert result.error is None
    assert result.states_visited[-2:] == ("Stop database (success)", "Success")
    (payload,) = result.lambda_payloads
    assert {k: payload[k] for k in EXECUTION_INPUT} == EXECUTION_INPUT
    assert datetime.fromisoformat(payload["force_current_time"]).tzinfo is not None


def test_template_start_fails(template_results: dict[str, ScenarioResult]) -> None:
    result = template_results["start-fails"]
    assert result.execution_status == "FAILED"
    assert result.states_visited == ("Start database", "Stop database (fail)", "Fail")
    assert result.lambda_payloads == ()


def test_template_never_running_gives_up(template_results: dict[str, ScenarioResult]) -> None:
    result = template_results["never-running"]
    assert result.execution_status == "FAILED"
    assert result.states_visited.count("Check database state") == 10
    assert "Notify" not in result.states_visited
    assert result.states_visited[-2:] == ("Stop database (fail)", "Fail")


def test_template_lambda_fails(template_results: dict[str, ScenarioResult]) -> None:
    result = template_results["lambda-fails"]
    assert result.execution_status == "FAILED"
    assert len(result.lambda_payloads) == 1
    assert result.states_visited[-3:] == ("Notify", "Stop database (fail)", "Fail")


def test_catch_that_skips_the_stop_leaves_the_database_running() -> None:
    definition = flow()
    definition["States"]["Notify"]["Catch"][0]["Next"] = "Fail"
    result = run(definition, "lambda-fails")
    assert result.execution_status == "FAILED"
    assert result.final_instance_state == "running"


def test_payload_without_force_current_time() -> None:
    definition = flow()
    del definition["States"]["Notify"]["Parameters"]["Payload"]["force_current_time.$"]
    result = run(definition, "happy-path")
    assert result.execution_status == "SUCCEEDED"
    (payload,) = result.lambda_payloads
    assert "force_current_time" not in payload


def test_wrong_function_name_is_not_silently_echoed() -> None:
    result = run(flow(f"{DEPLOYED_ARN.removesuffix(FUNCTION)}SomeoneElse"), "happy-path")
    assert result.execution_status == "FAILED"
    assert result.lambda_payloads == ()
    assert result.final_instance_state == "stopped"


def test_qualified_function_arn_reaches_the_simulated_function() -> None:
    result = run(flow(f"{DEPLOYED_ARN}:live"), "happy-path")
    assert result.execution_status == "SUCCEEDED"
    assert len(result.lambda_payloads) == 1


def test_unbounded_loop_times_out_instead_of_hanging() -> None:
    definition = flow()
    definition["States"]["Counter exceeded?"] = {"Type": "Pass", "Next": "Check database state"}
    result = run(definition, "never-running", timeout_s=1)
    assert result.execution_status == "TIMED_OUT"
    assert result.error and "\n" not in result.error
    assert result.final_instance_state == "pending"


@pytest.mark.parametrize(
    "text",
    ["{not json", json.dumps({"StartAt": "A", "States": {"A": {"Type": "Bogus"}}})],
)
def test_unusable_definition_gives_a_result_per_scenario(text: str) -> None:
    results = simulate(text, function_name=FUNCTION)
    assert [r.scenario for r in results] == list(SCENARIOS)
    assert {r.execution_status for r in results} == {"NOT_RUN"}
    assert all(r.error and "\n" not in r.error for r in results)


def test_unknown_scenario_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        simulate(json.dumps(flow()), function_name=FUNCTION, scenarios=["meteor-strike"])


@pytest.fixture
def listening_endpoint() -> Iterator[tuple[str, list[bytes]]]:
    """A loopback endpoint that records whatever connects to it."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    contacts: list[bytes] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                contacts.append(connection.recv(200))

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/", contacts
    done.set()
    acceptor.join()
    server.close()


def test_environment_is_restored_and_no_endpoint_is_contacted(
    monkeypatch: pytest.MonkeyPatch, listening_endpoint: tuple[str, list[bytes]]
) -> None:
    url, contacts = listening_endpoint
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL_SFN"):
        monkeypatch.setenv(name, url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "real-looking-key")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    before = dict(os.environ)
    result = run(flow(), "happy-path")
    assert result.execution_status == "SUCCEEDED"
    assert dict(os.environ) == before
    assert contacts == []
