"""The preflight meets an endpoint that answers, but not as STS does (a proxy's error page,
XML cut short, an answer without the caller's ARN): one line, could not check, no traceback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from runbook.aws.session import open_session
from runbook.errors import CouldNotCheck
from runbook.preflight import aws_identity

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
