"""The egress probe without AWS: its handler against a local HTTP server, the zip that carries
it, the permits that let only its own writes through, how its answer is read, the checker's
policy for it, and the check's verdicts on hand-made and recorded inventories.

Creation, invocation through the API and clean-up are in tests/integration/test_probe.py.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import ipaddress
import json
import re
import socket
import ssl
import sys
import threading
import time
import zipfile
import zipimport
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from checks.probe import OPT_IN
from runbook.aws.collected import CollectionError
from runbook.aws.inventory import Inventory
from runbook.aws.policy import checker_policy
from runbook.aws.probe import TAG_KEY, TAG_VALUE, EgressProbe, _answer, probe_code
from runbook.aws.session import open_session
from runbook.engine import evaluate
from runbook.errors import ReadOnlyViolation
from runbook.findings import Status
from runbook.probe import handler as probe_handler
from runbook.profile import Probe, Profile, load_profile
from runbook.registry import CHECKS, load_checks

from .bounds import silent_listener

ROOT = Path(__file__).resolve().parents[2]
PROBE_IP = "203.0.113.9"
PREFIX = Probe().name_prefix


class _Answers(BaseHTTPRequestHandler):
    """``/ip``: an IP as checkip.amazonaws.com answers; ``/503``: an error; ``/text``: no IP."""

    def do_GET(self) -> None:
        status, body = {"/ip": (200, f"{PROBE_IP}\n"), "/text": (200, "hello")}.get(
            self.path, (503, "busy")
        )
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:  # keep the test output quiet
        pass


@pytest.fixture(scope="module")
def web() -> Iterator[str]:
    """A local HTTP server on a free loopback port: its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def tls_web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The same answers over HTTPS, as checkip.amazonaws.com gives them, with a certificate
    for 127.0.0.1 that only a client told to trust it (SSL_CERT_FILE) accepts: its base URL
    and the certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "probe test CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", folder / "cert.pem"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _trust_only(monkeypatch: pytest.MonkeyPatch, bundle: Path, tmp_path: Path) -> None:
    """The handler's TLS trusts what ``bundle`` holds and nothing of the machine's."""
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))


def test_handler_fetches_over_https_verifying_the_certificate(
    tls_web: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url, cert = tls_web
    _trust_only(monkeypatch, cert, tmp_path)
    assert probe_handler.handler({"url": f"{url}/ip", "timeout_s": 5}, None) == {"ip": PROBE_IP}
    _trust_only(monkeypatch, tmp_path / "no-such-bundle.pem", tmp_path)
    untrusted = probe_handler.handler({"url": f"{url}/ip", "timeout_s": 5}, None)
    # A certificate nobody vouches for tells no IP; yet something answered: not "no way out".
    assert set(untrusted) == {"error"} and "CERTIFICATE_VERIFY_FAILED" in untrusted["error"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_handler_answers_the_ip_the_server_saw(web: str) -> None:
    assert probe_handler.handler({"url": f"{web}/ip", "timeout_s": 2}, None) == {"ip": PROBE_IP}


def test_handler_an_http_error_or_no_ip_is_not_unreachable(web: str) -> None:
    """An answer came back: the way out works, only the IP is unknown (could not check)."""
    busy = probe_handler.handler({"url": f"{web}/503", "timeout_s": 2}, None)
    assert busy == {"error": f"{web}/503 answered HTTP 503 Service Unavailable"}
    text = probe_handler.handler({"url": f"{web}/text", "timeout_s": 2}, None)
    assert text == {"error": f"{web}/text answered 'hello', not an IP address"}


def test_handler_refused_or_silent_is_unreachable() -> None:
    refused = probe_handler.handler({"url": f"http://127.0.0.1:{_closed_port()}/"}, None)
    assert refused["unreachable"] is True
    assert "Connection refused" in refused["error"]
    with silent_listener() as silent:
        started = time.monotonic()
        hung = probe_handler.handler({"url": silent.url, "timeout_s": 0.3}, None)
    assert hung["unreachable"] is True
    assert "timed out" in hung["error"]
    assert time.monotonic() - started < 3


def test_handler_defaults_to_the_profiles_url() -> None:
    assert Probe().url == probe_handler.DEFAULT_URL


def test_handler_imports_only_the_standard_library() -> None:
    """It runs alone in the probe function: nothing else is in its package."""
    tree = ast.parse(Path(probe_handler.__file__).read_text())
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= sys.stdlib_module_names | {"__future__"}


def test_the_zip_is_the_handler_alone_and_runs(web: str, tmp_path: Path) -> None:
    code = probe_code()
    with zipfile.ZipFile(io.BytesIO(code)) as package:
        assert package.namelist() == ["handler.py"]
        assert package.read("handler.py") == Path(probe_handler.__file__).read_bytes()
    probe_code.cache_clear()
    assert probe_code() == code  # the same bytes every time
    path = tmp_path / "probe.zip"
    path.write_bytes(code)
    spec = zipimport.zipimporter(str(path)).find_spec("handler")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.handler({"url": f"{web}/ip"}, None) == {"ip": PROBE_IP}


# -- the permits: only the probe's own writes, with its own parameters, while it runs


@pytest.fixture
def dead_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing listens on port 9: a call that got past the guard fails to connect."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def _create_params(name: str) -> dict[str, Any]:
    return {
        "FunctionName": name,
        "Runtime": "python3.12",
        "Role": "arn:aws:iam::123456789012:role/WikidotNotifier-role",
        "Handler": "handler.handler",
        "Code": {"ZipFile": b"zip"},
        "VpcConfig": {"SubnetIds": ["subnet-1"], "SecurityGroupIds": ["sg-1"]},
        "Tags": {TAG_KEY: TAG_VALUE},
    }


def test_permits_let_only_the_probes_own_writes_through(dead_endpoint: None) -> None:
    from botocore.exceptions import EndpointConnectionError

    session = open_session("eu-west-2", max_attempts=1, connect_timeout=1)
    probe = EgressProbe(session, "WikidotNotifier", PREFIX, 60)
    probe.create_params = _create_params(probe.name)
    probe.deletable.add(probe.name)
    lam = session.client("lambda")
    with probe.permitted():
        refused = [
            lambda: lam.delete_function(FunctionName="WikidotNotifier"),
            lambda: lam.delete_function(FunctionName=probe.name, Qualifier="1"),
            lambda: lam.delete_function(FunctionName=f"{PREFIX}-0badf00d"),  # not found tagged
            lambda: lam.invoke(FunctionName="WikidotNotifier", InvocationType="RequestResponse"),
            lambda: lam.invoke(FunctionName=probe.name, InvocationType="Event"),
            lambda: lam.create_function(
                **{**_create_params(probe.name), "FunctionName": "WikidotNotifier"}
            ),
            lambda: lam.create_function(**{**_create_params(probe.name), "Tags": {}}),
            lambda: lam.create_function(**{**_create_params(probe.name), "Timeout": 900}),
        ]
        for call in refused:
            with pytest.raises(ReadOnlyViolation, match="with these parameters"):
                call()
        with pytest.raises(ReadOnlyViolation, match="refused lambda:UpdateFunctionCode"):
            lam.update_function_code(FunctionName=probe.name, ZipFile=b"")
        for call in (
            lambda: lam.create_function(**_create_params(probe.name)),
            lambda: lam.invoke(
                FunctionName=probe.name, InvocationType="RequestResponse", Payload=b"{}"
            ),
            lambda: lam.delete_function(FunctionName=probe.name),
        ):
            with pytest.raises(EndpointConnectionError):  # past the guard, to the dead endpoint
                call()
    with pytest.raises(ReadOnlyViolation, match="with these parameters"):
        lam.delete_function(FunctionName=probe.name)  # the probe is over: nothing is permitted
    assert session.log.attempts == {
        "lambda:CreateFunction": 1,
        "lambda:Invoke": 1,
        "lambda:DeleteFunction": 1,
    }


@pytest.mark.parametrize(
    ("name", "swept"),
    [
        (f"{PREFIX}-0badf00d", True),
        (f"{PREFIX}-0BADF00D", False),
        (f"{PREFIX}-0badf00d-x", False),
        (PREFIX, False),
        ("WikidotNotifier", False),
    ],
)
def test_only_names_the_probe_makes_are_swept(name: str, swept: bool) -> None:
    assert EgressProbe(None, "WikidotNotifier", PREFIX, 1).is_probe_name(name) is swept  # type: ignore[arg-type]


def test_a_prefix_matching_the_notifier_never_names_it() -> None:
    probe = EgressProbe(None, "WikidotNotifier-0badf00d", "WikidotNotifier", 1)  # type: ignore[arg-type]
    assert not probe.is_probe_name("WikidotNotifier-0badf00d")


# -- the probe's answer


@pytest.mark.parametrize(
    ("raw", "read"),
    [
        (b'{"ip": "203.0.113.9"}', {"ip": PROBE_IP, "unreachable": None}),
        (b'{"error": "timed out", "unreachable": true}', {"ip": None, "unreachable": "timed out"}),
    ],
)
def test_answer_an_ip_or_no_way_out(raw: bytes, read: dict[str, Any]) -> None:
    assert _answer(raw, None) == read


@pytest.mark.parametrize(
    ("raw", "function_error", "says"),
    [
        (b'{"url": "https://checkip.amazonaws.com"}', None, "not an IP address"),  # moto's echo
        (b'{"ip": "not-an-ip"}', None, "not an IP address"),
        (b'{"error": "answered HTTP 503"}', None, "could not learn its IP: answered HTTP 503"),
        (b'{"errorMessage": "boom"}', "Unhandled", "the probe function failed (Unhandled)"),
        (b"<html>", None, "not an IP address"),
    ],
)
def test_answer_that_tells_nothing_is_could_not_check(
    raw: bytes, function_error: str | None, says: str
) -> None:
    with pytest.raises(CollectionError, match=re.escape(says)) as caught:
        _answer(raw, function_error)
    assert caught.value.kind == "probe-failed"


# -- the checker's policy


def test_policy_grants_the_probes_writes_only_when_enabled() -> None:
    profile = load_profile(ROOT / "profiles" / "notifier.toml")
    off = checker_policy(profile)["Statement"]
    assert not any("lambda:CreateFunction" in s["Action"] for s in off)
    on = profile.model_copy(update={"probe": Probe(enabled=True)})
    added = checker_policy(on)["Statement"][len(off) :]
    assert [(s["Action"], s["Resource"]) for s in added] == [
        (
            [
                "lambda:CreateFunction",
                "lambda:DeleteFunction",
                "lambda:InvokeFunction",
                "lambda:TagResource",
            ],
            f"arn:aws:lambda:eu-west-2:*:function:{PREFIX}-*",
        ),
        (
            ["iam:PassRole"],
            [
                "arn:aws:iam::*:role/WikidotNotifier-role",
                "arn:aws:iam::*:role/*/WikidotNotifier-role",
            ],
        ),
    ]
    assert added[1]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}
    }


def test_the_probes_reads_are_declared() -> None:
    reads = set(checker_policy(Profile())["Statement"][0]["Action"])
    assert {"lambda:ListFunctions", "lambda:ListTags", "lambda:GetFunctionConfiguration"} <= reads


# -- the check


CHECK_ID = "egress_probe_public_ip_is_expected"
RECORDED = json.loads((ROOT / "tests" / "data" / "lab-inventory.json").read_text())
LAB = load_profile(ROOT / "profiles" / "lab.toml")


def _enabled(profile: Profile) -> Profile:
    return profile.model_copy(update={"probe": profile.probe.model_copy(update={"enabled": True})})


def probe_key(profile: Profile) -> str:
    """The collection's key in an inventory snapshot, as ``collected`` makes it."""
    p = profile.probe
    args = [profile.function.function, p.name_prefix, p.url, f"{p.timeout_s:g}"]
    return f"egress_probe({json.dumps(args)[1:-1]})"


def probed(ip: str | None, unreachable: str | None = None, **more: Any) -> dict[str, Any]:
    return {
        "function": f"{PREFIX}-1234abcd",
        "subnets": ["subnet-1", "subnet-2"],
        "security_groups": ["sg-1", "sg-2"],
        "swept": [],
        "ip": ip,
        "unreachable": unreachable,
        "elapsed_s": 1.5,
        "left_behind": None,
        **more,
    }


def judge(snapshot: dict[str, Any], profile: Profile) -> Any:
    load_checks()
    return evaluate(CHECKS[CHECK_ID], Inventory.from_snapshot(snapshot), profile)


def lab_with(result: Any) -> dict[str, Any]:
    return {**RECORDED, probe_key(LAB): result}


def test_check_is_opt_in() -> None:
    found = judge(lab_with(probed(PROBE_IP)), LAB)
    assert (found.status, found.summary) == (Status.SKIP, OPT_IN)


def test_check_passes_from_an_elastic_ip_of_the_lambda_enis() -> None:
    eips = sorted(a["PublicIp"] for a in RECORDED["addresses()"] if a.get("NetworkInterfaceId"))
    assert len(eips) == 2
    found = judge(lab_with(probed(eips[1], swept=[f"{PREFIX}-0badf00d"])), _enabled(LAB))
    assert found.status == Status.PASS
    assert (found.expected, found.actual) == (eips, eips[1])
    assert found.evidence["swept_leftovers"] == [f"{PREFIX}-0badf00d"]
    assert found.evidence["probe_function"] == f"{PREFIX}-1234abcd"
    assert set(found.evidence["expected_from"]) == set(eips)


def test_check_fails_naming_another_ip() -> None:
    found = judge(lab_with(probed("198.51.100.23")), _enabled(LAB))
    assert found.status == Status.FAIL
    assert "198.51.100.23" in found.summary
    assert found.actual == "198.51.100.23"


def test_check_fails_when_the_probe_has_no_way_out() -> None:
    found = judge(lab_with(probed(None, "URLError: timed out")), _enabled(LAB))
    assert found.status == Status.FAIL
    assert "could not reach https://checkip.amazonaws.com: URLError: timed out" in found.summary


def test_check_reports_a_probe_left_behind() -> None:
    left = f"probe function {PREFIX}-1234abcd could not be deleted (...): the next probe sweeps it"
    found = judge(lab_with(probed("198.51.100.23", left_behind=left)), _enabled(LAB))
    assert found.advisories == (left,)


@pytest.mark.parametrize("kind", ["timeout", "probe-failed", "throttled"])
def test_a_probe_that_could_not_tell_is_could_not_check(kind: str) -> None:
    failure = {"collection_error": kind, "message": "egress probe: ..."}
    found = judge(lab_with(failure), _enabled(LAB))
    assert found.status == Status.ERROR
    assert found.evidence["cause"] == kind


def test_check_fails_without_a_vpc_config_and_probes_nothing() -> None:
    snap = json.loads(json.dumps(RECORDED))
    snap['function("WikidotNotifier")']["Configuration"]["VpcConfig"] = {}
    found = judge(snap, _enabled(LAB))  # no probe recorded: asking for it would be an error
    assert found.status == Status.FAIL
    assert "not in a VPC" in found.summary


def nat_world(profile: Profile, route_key: str, target: str) -> dict[str, Any]:
    """Both Lambda subnets routed through ``target``; a second NAT nothing routes to."""
    subnets = [
        {"SubnetId": f"subnet-{i}", "VpcId": "vpc-1", "Tags": [{"Key": "Name", "Value": s.name}]}
        for i, s in enumerate(profile.vpc.lambda_subnets, 1)
    ]
    return {
        "vpcs()": [{"VpcId": "vpc-1", "Tags": [{"Key": "Name", "Value": profile.vpc.name}]}],
        "subnets()": subnets,
        "route_tables()": [
            {
                "VpcId": "vpc-1",
                "Associations": [{"SubnetId": s["SubnetId"]} for s in subnets],
                "Routes": [{"DestinationCidrBlock": "0.0.0.0/0", route_key: target}],
            }
        ],
        "nat_gateways()": [
            {"NatGatewayId": "nat-1", "NatGatewayAddresses": [{"PublicIp": "198.51.100.1"}]},
            {"NatGatewayId": "nat-2", "NatGatewayAddresses": [{"PublicIp": "198.51.100.2"}]},
        ],
        "instances()": [
            {"InstanceId": "i-nat", "PublicIpAddress": "198.51.100.3"},
            {"InstanceId": "i-other", "PublicIpAddress": "198.51.100.4"},
        ],
        "addresses()": [{"PublicIp": "198.51.100.5", "InstanceId": "i-nat"}],
        'function("WikidotNotifier")': {
            "Configuration": {"VpcConfig": {"SubnetIds": ["subnet-1", "subnet-2"]}}
        },
    }


@pytest.mark.parametrize(
    ("egress", "route_key", "target", "expected"),
    [
        ("nat-gateway", "NatGatewayId", "nat-1", ["198.51.100.1"]),
        ("nat-instance", "InstanceId", "i-nat", ["198.51.100.3", "198.51.100.5"]),
    ],
)
def test_nat_variants_expect_the_routed_nats_ips(
    egress: str, route_key: str, target: str, expected: list[str]
) -> None:
    profile = _enabled(load_profile(ROOT / "profiles" / f"example-{egress}.toml"))
    world = nat_world(profile, route_key, target)
    for ip in (*expected, "198.51.100.2", "198.51.100.4"):
        found = judge({**world, probe_key(profile): probed(ip)}, profile)
        assert found.expected == expected
        assert found.status == (Status.PASS if ip in expected else Status.FAIL), ip
