"""No log record, whoever makes it, carries a secret value met in the run."""

from __future__ import annotations

import logging

import pytest

from runbook import redact

CANARY = "canary-unit-9f8e7d6c"


@pytest.fixture(autouse=True)
def redaction(caplog: pytest.LogCaptureFixture) -> None:
    redact.install_log_redaction({"RUNBOOK_SECRET_GMAIL_PASSWORD": CANARY})
    caplog.set_level(logging.DEBUG)


def test_aws_bodies_are_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    body = b'{"SecretString": "{\\"gmail_password\\": \\"unknown-yet-4242\\"}"}'
    logging.getLogger("botocore.parsers").debug("Response body:\n%r", body)
    request = {"url": "https://x", "body": b'{"SecretString": "unknown-yet-4242"}'}
    logging.getLogger("botocore.endpoint").debug(
        "Making request for %s with params: %s", "PutSecretValue", request
    )
    assert "unknown-yet-4242" not in caplog.text
    assert "https://x" in caplog.text and "not logged" in caplog.text


def test_known_values_are_scrubbed_from_any_record(caplog: pytest.LogCaptureFixture) -> None:
    logging.getLogger("anything").info("password is %s", CANARY)
    try:
        raise ValueError(f"bad value {CANARY!r}")
    except ValueError:
        logging.getLogger("anything").exception("failed")
    assert CANARY not in caplog.text
    assert caplog.text.count(redact.REDACTED) == 2


def test_values_read_from_a_secret_are_remembered(caplog: pytest.LogCaptureFixture) -> None:
    redact.shape_of('{"mysql_password": "read-at-run-time-77", "mysql_host": "10.0.0.4"}')
    logging.getLogger("x").warning("read-at-run-time-77 at 10.0.0.4")
    assert "read-at-run-time-77" not in caplog.text
    assert "10.0.0.4" in caplog.text  # not a credential: still shown
    assert redact.scrub_data({"a": ["read-at-run-time-77"]}) == {"a": [redact.REDACTED]}
