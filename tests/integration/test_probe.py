"""The egress probe on the lab: created in the notifier's subnets and security groups with its
tag, invoked, deleted in every case; leftovers swept; the verdicts; the notifier untouched.

moto runs no code here (no Docker): an invocation answers a reply queued beforehand through
``/moto-api/static/lambda-simple/response``, or echoes its payload. So the lab shows what the
probe asks of AWS and what it makes of the answers; what the function really sees from inside
the VPC only a real account can show.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from checks.probe import expected_ips
from runbook.aws.collected import iam_action
from runbook.aws.inventory import Inventory
from runbook.aws.policy import checker_policy
from runbook.aws.probe import TAG_KEY, TAG_VALUE, probe_code
from runbook.aws.session import AwsSession, is_read, open_session
from runbook.findings import Finding, Status
from runbook.lab import control
from runbook.profile import Profile
from runbook.registry import CHECKS, load_checks
from runbook.run import Run
from tests.unit.bounds import cause

from .conftest import LAB_PROFILE, ROOT

pytestmark = pytest.mark.lab

CHECK_ID = "egress_probe_public_ip_is_expected"
OTHER_IP = "198.51.100.23"
MARGIN_S = 5.0  # for a slow machine
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def probing(built_lab: Run, lab_profile: Profile) -> Profile:
    probe = lab_profile.probe.model_copy(update={"enabled": True, "timeout_s": 30})
    return lab_profile.model_copy(update={"probe": probe})


@pytest.fixture(scope="module")
def lam(probing: Profile) -> Any:
    """A read-only client to look at the lab's functions from outside the run."""
    return open_session(probing.region).client("lambda")


@pytest.fixture(scope="module")
def eips(probing: Profile) -> list[str]:
    """The Elastic IPs on the notifier's ENIs in the lab: where its traffic should leave from."""
    found = sorted(expected_ips(Inventory(open_session(probing.region)), probing))
    assert len(found) == 2
    return found


@pytest.fixture
def queue(lab_url: str, probing: Profile) -> Callable[[dict[str, Any]], None]:
    """Queue the next invocation's reply in moto (what the probe's handler would answer)."""
    account = open_session(probing.region).client("sts").get_caller_identity()["Account"]

    def put(reply: dict[str, Any]) -> None:
        body = {"results": [json.dumps(reply)], "region": probing.region, "account_id": account}
        request = urllib.request.Request(
            f"{lab_url}/moto-api/static/lambda-simple/response",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with _OPENER.open(request, timeout=10) as response:
            assert response.status == 201

    return put


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every AWS call the sessions opened from now on make, with its parameters, as the
    guard sees them (below every client, the probe's own bounded one included)."""
    seen: list[tuple[str, dict[str, Any]]] = []
    original = AwsSession._check_permit

    def check_permit(self: AwsSession, service: str, model: Any, params: Any, **kw: Any) -> None:
        seen.append((f"{service}:{model.name}", dict(params)))
        original(self, service, model, params, **kw)

    monkeypatch.setattr(AwsSession, "_check_permit", check_permit)
    return seen


def probes(lam: Any, probing: Profile) -> list[str]:
    names = [
        f["FunctionName"]
        for page in lam.get_paginator("list_functions").paginate()
        for f in page["Functions"]
    ]
    return sorted(n for n in names if n.startswith(probing.probe.name_prefix))


@pytest.fixture(autouse=True)
def notifier_untouched(
    probing: Profile, lam: Any, calls: list[tuple[str, dict[str, Any]]]
) -> Iterator[None]:
    """Whatever a test does, the probe never writes to the notifier nor leaves itself behind."""
    name = probing.function.function
    before = lam.get_function(FunctionName=name)["Configuration"]
    yield
    assert lam.get_function(FunctionName=name)["Configuration"] == before
    writes = [(op, p) for op, p in calls if not is_read(*op.split(":"))]
    assert all(p.get("FunctionName") != name for _, p in writes), writes
    assert probes(lam, probing) == []


def probe_once(profile: Profile) -> tuple[Run, Finding]:
    load_checks()
    run = Run(profile)
    try:
        return run, run.check(CHECKS[CHECK_ID])
    finally:
        run.close()


def test_probe_from_the_lambda_eip_passes_and_is_made_as_the_notifier(
    probing: Profile,
    lam: Any,
    eips: list[str],
    queue: Callable[[dict[str, Any]], None],
    calls: list[tuple[str, dict[str, Any]]],
) -> None:
    notifier = lam.get_function(FunctionName=probing.function.function)["Configuration"]
    queue({"ip": eips[1]})
    run, found = probe_once(probing)

    assert found.status == Status.PASS, found.summary
    assert (found.expected, found.actual) == (eips, eips[1])
    name = found.evidence["probe_function"]
    assert name.startswith(f"{probing.probe.name_prefix}-")
    writes = [(op, p) for op, p in calls if not is_read(*op.split(":"))]
    assert [op for op, _ in writes] == [
        "lambda:CreateFunction",
        "lambda:Invoke",
        "lambda:DeleteFunction",
    ]
    created = writes[0][1]
    assert created["FunctionName"] == name
    assert created["Role"] == notifier["Role"]
    assert sorted(created["VpcConfig"]["SubnetIds"]) == sorted(notifier["VpcConfig"]["SubnetIds"])
    assert sorted(created["VpcConfig"]["SecurityGroupIds"]) == sorted(
        notifier["VpcConfig"]["SecurityGroupIds"]
    )
    assert created["Tags"] == {TAG_KEY: TAG_VALUE}
    # one log group for every probe, not one left behind per run (moto does not keep it)
    assert created["LoggingConfig"] == {"LogGroup": f"/aws/lambda/{probing.probe.name_prefix}"}
    assert created["Code"] == {"ZipFile": probe_code()}
    assert json.loads(writes[1][1]["Payload"])["url"] == probing.probe.url
    assert {p["FunctionName"] for _, p in writes} == {name}
    assert found.evidence["subnets"] == sorted(notifier["VpcConfig"]["SubnetIds"])
    assert found.evidence["swept_leftovers"] == []
    assert 0 < found.evidence["elapsed_s"] < probing.probe.timeout_s
    # The report counts the probe's writes; the checker's generated policy allows every call.
    assert run.mutating_calls() == {
        "lambda:CreateFunction": 1,
        "lambda:DeleteFunction": 1,
        "lambda:Invoke": 1,
    }
    allowed = {a for s in checker_policy(probing)["Statement"] for a in s["Action"]}
    needed = {iam_action(*c.split(":")) for c in run.aws_calls()}
    assert needed - allowed == set()


def test_leftover_probe_is_swept_and_an_untagged_lookalike_kept(
    probing: Profile,
    lam: Any,
    eips: list[str],
    queue: Callable[[dict[str, Any]], None],
) -> None:
    prefix = probing.probe.name_prefix
    hand = open_session(probing.region, writable=True, may_delete=True)  # the lab's own hand
    role = lam.get_function(FunctionName=probing.function.function)["Configuration"]["Role"]
    common = {"Runtime": "python3.12", "Role": role, "Handler": "handler.handler"}
    made = hand.client("lambda")
    made.create_function(
        FunctionName=f"{prefix}-0badf00d",
        Code={"ZipFile": probe_code()},
        Tags={TAG_KEY: TAG_VALUE},
        **common,
    )
    made.create_function(
        FunctionName=f"{prefix}-0ddba11a", Code={"ZipFile": probe_code()}, **common
    )
    try:
        queue({"ip": eips[0]})
        _, found = probe_once(probing)
        assert found.status == Status.PASS, found.summary
        assert found.evidence["swept_leftovers"] == [f"{prefix}-0badf00d"]
        assert probes(lam, probing) == [f"{prefix}-0ddba11a"]  # not the probe's: not its to delete
    finally:
        made.delete_function(FunctionName=f"{prefix}-0ddba11a")


def test_probe_from_another_ip_fails_naming_it(
    probing: Profile, eips: list[str], queue: Callable[[dict[str, Any]], None]
) -> None:
    queue({"ip": OTHER_IP})
    _, found = probe_once(probing)
    assert found.status == Status.FAIL
    assert OTHER_IP in found.summary
    assert (found.expected, found.actual) == (eips, OTHER_IP)


def test_probe_with_no_way_out_fails(
    probing: Profile, queue: Callable[[dict[str, Any]], None]
) -> None:
    queue({"error": f"{probing.probe.url}: URLError: timed out", "unreachable": True})
    _, found = probe_once(probing)
    assert found.status == Status.FAIL
    assert "could not reach" in found.summary


def test_probe_that_answers_no_ip_is_could_not_check(probing: Profile) -> None:
    """Nothing queued: moto echoes the probe's event, which holds no IP."""
    _, found = probe_once(probing)
    assert found.status == Status.ERROR
    assert cause(found) == "probe-failed"


def test_invoke_refused_is_could_not_check_and_the_probe_still_deleted(
    probing: Profile, lab_url: str, calls: list[tuple[str, dict[str, Any]]]
) -> None:
    control.throttle(lab_url, operations=["lambda:Invoke"])
    try:
        run, found = probe_once(probing)
    finally:
        control.throttle(lab_url, 0)
    assert found.status == Status.ERROR
    assert cause(found) == "throttled"
    assert run.session.log.attempts["lambda:Invoke"] == 1  # never retried: a retry runs it again
    assert [op for op, _ in calls if op == "lambda:DeleteFunction"] == ["lambda:DeleteFunction"]


class _HoldInvocations(BaseHTTPRequestHandler):
    """Lambda's API as the lab serves it, except that invocations never get an answer."""

    server: _Forwarder

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if self.command == "POST" and self.path.endswith("/invocations"):
            self.server.release.wait(60)
            return
        skip = {"host", "content-length", "connection"}
        request = urllib.request.Request(
            self.server.target + self.path,
            data=body,
            method=self.command,
            headers={k: v for k, v in self.headers.items() if k.lower() not in skip},
        )
        try:
            response = _OPENER.open(request, timeout=30)
        except urllib.error.HTTPError as error:
            response = error
        with response:
            data = response.read()
            self.send_response(response.status)
            for key, value in response.headers.items():
                if key.lower() not in {"content-length", "transfer-encoding", "connection"}:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _forward

    def log_message(self, *args: Any) -> None:
        pass


class _Forwarder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, target: str) -> None:
        super().__init__(("127.0.0.1", 0), _HoldInvocations)
        self.target = target
        self.release = threading.Event()


@pytest.fixture
def silent_invocations(lab_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Lambda calls of the sessions opened from now on go through a forwarder that holds
    every invocation unanswered: a probe function that never answers."""
    server = _Forwarder(lab_url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", f"http://127.0.0.1:{server.server_address[1]}")
    try:
        yield
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_probe_that_never_answers_errors_within_its_budget_and_is_deleted(
    probing: Profile, silent_invocations: None, calls: list[tuple[str, dict[str, Any]]]
) -> None:
    budget = 3.0
    profile = probing.model_copy(
        update={"probe": probing.probe.model_copy(update={"timeout_s": budget})}
    )
    started = time.monotonic()
    _, found = probe_once(profile)
    took = time.monotonic() - started

    assert found.status == Status.ERROR
    assert cause(found) == "timeout"
    assert "probe.timeout_s" in found.summary
    assert took < budget + MARGIN_S
    assert "no answer from" in found.summary  # the invocation held, not an earlier step
    assert [op for op, _ in calls if op == "lambda:DeleteFunction"] == ["lambda:DeleteFunction"]


def probing_run(reports: Path, *extra: str) -> list[str]:
    """The command of a runbook run of the egress section on the lab, probing."""
    return [
        *(sys.executable, "-m", "pytest", f"--profile={LAB_PROFILE}", "--probe-egress"),
        *("-m", "egress", f"--reports-dir={reports}", *extra),
    ]


def test_pytest_run_with_probe_egress(
    lab_env: dict[str, str],
    tmp_path: Path,
    eips: list[str],
    queue: Callable[[dict[str, Any]], None],
) -> None:
    """The scenario through the runbook itself: the option, the step, the report."""
    out = tmp_path / "reports"
    queue({"ip": eips[0]})
    proc = subprocess.run(
        probing_run(out, "-k", "probe"),
        cwd=ROOT,
        env=lab_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    egress = next(s for s in summary["sections"] if s["id"] == "egress")
    ran = {
        c["id"]: c["status"]
        for c in egress["checks"]
        if c["status"] not in ("skip", "not_selected")
    }
    assert ran == {CHECK_ID: "pass"}
    assert summary["mutating_calls"] == {
        "lambda:CreateFunction": 1,
        "lambda:DeleteFunction": 1,
        "lambda:Invoke": 1,
    }


def test_a_run_terminated_mid_probe_still_deletes_it(
    lab_env: dict[str, str], probing: Profile, lam: Any, tmp_path: Path
) -> None:
    """A cron or CI time-out sends TERM while the probe function exists (held just before its
    invocation): the run deletes it on the way out, not the next run's sweep."""
    marker = tmp_path / "held"
    proc = subprocess.Popen(
        probing_run(tmp_path / "reports", "-p", "tests.integration.hold_at"),
        cwd=ROOT,
        env={
            **lab_env,
            "RUNBOOK_TEST_HOLD_AT": "lambda:Invoke",
            "RUNBOOK_TEST_HOLD_MARKER": str(marker),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        assert len(probes(lam, probing)) == 1  # made, not yet invoked
        proc.terminate()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2  # pytest's "interrupted", not the hold's own exit (3)
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
    assert summary["run"]["interrupted"] is True  # reported as such, not as a verdict
    # notifier_untouched: no probe function is left behind
