"""The preflight meets an endpoint that answers, but not as STS does (a proxy's error page,
XML cut short, an answer without the caller's ARN), or takes for ever (one byte at a time, a
credential_process that hangs): one line, could not check, no traceback, no endless wait."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from runbook.aws.session import AwsSession, open_session
from runbook.errors import CouldNotCheck
from runbook.preflight import aws_identity, preflight_deadline

NO_ARN = (
    '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
    "<GetCallerIdentityResult><Account>123456789012</Account><UserId>AIDA</UserId>"
    "</GetCallerIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>"
    "</GetCallerIdentityResponse>"
)
ANSWERS = {
    "xml cut short": "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws",
    "html page": "<html><body>Proxy error<br></body></html>",
    "no arn": NO_ARN,
}


@pytest.fixture
def endpoint(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    body = ANSWERS[request.param].encode()

    class Answer(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("endpoint", sorted(ANSWERS), indirect=True)
def test_an_answer_that_is_not_sts_is_could_not_check_in_one_line(endpoint: None) -> None:
    with pytest.raises(CouldNotCheck) as caught:
        aws_identity(open_session("eu-west-2", max_attempts=1))
    message = str(caught.value)
    assert "\n" not in message
    assert "the endpoint's answer is not AWS's" in message
    assert "AWS_ENDPOINT_URL" in message


@pytest.fixture
def trickling(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An endpoint that answers one byte every 0.2 s and never finishes: each socket read
    succeeds, so botocore's read time-out never fires."""
    stop = threading.Event()

    class Trickle(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            while not stop.wait(0.2):
                try:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                except OSError:
                    return

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")
    try:
        yield
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def _bounded_session() -> AwsSession:
    return open_session("eu-west-2", connect_timeout=1, read_timeout=1, max_attempts=1)


def test_an_endpoint_that_trickles_is_cut_at_the_preflights_deadline(trickling: None) -> None:
    session = _bounded_session()
    with pytest.raises(CouldNotCheck, match="no complete answer within 2 s"):
        aws_identity(session, preflight_deadline(session, run_s=1800))


def test_a_credential_process_that_hangs_is_cut_at_the_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid_file = tmp_path / "pid"
    hang = tmp_path / "hang.py"
    hang.write_text(
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(120)\n"
    )
    config = tmp_path / "config"
    config.write_text(f"[profile hangs]\ncredential_process = {sys.executable} {hang}\n")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_PROFILE", "hangs")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    session = _bounded_session()
    try:
        with pytest.raises(CouldNotCheck, match="a credential_process that hangs"):
            aws_identity(session, preflight_deadline(session, run_s=1800))
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
    assert pid_file.exists()  # it was the credential process that held the run
