"""No log record, whoever makes it, carries a secret value met in the run."""

from __future__ import annotations

import json
import logging

import pytest

from runbook import redact

CANARY = "canary-unit-9f8e7d6c"


@pytest.fixture(autouse=True)
def redaction(caplog: pytest.LogCaptureFixture) -> None:
    redact.install_log_redaction(
        {
            "RUNBOOK_SECRET_GMAIL_PASSWORD": CANARY,
            "RUNBOOK_SECRET_MYSQL_USERNAME": "notifier",  # not credentials: still shown
            "RUNBOOK_SECRET_MYSQL_HOST": "10.0.0.4",
        }
    )
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


def test_names_and_hosts_given_for_the_secret_are_not_hidden(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logging.getLogger("x").info("notifier at 10.0.0.4")
    assert "notifier at 10.0.0.4" in caplog.text


def test_every_written_form_of_a_value_is_scrubbed() -> None:
    tricky = "pa\"ss\\wo'rd-é-1234"
    redact.remember(tricky)
    forms = [
        tricky,
        json.dumps(tricky),
        json.dumps(json.dumps(tricky)),
        repr(tricky),
        repr({"k": tricky}),
    ]
    assert [tricky in redact.scrub(f) or tricky[:6] in redact.scrub(f) for f in forms] == [
        False
    ] * 5
    assert redact.scrub_data({"port": 3306, "v": [tricky]}) == {
        "port": 3306,
        "v": [redact.REDACTED],
    }


def test_a_value_remembered_later_is_scrubbed_whole_longest_first() -> None:
    redact.remember("tok-9f3e")
    assert redact.scrub("x tok-9f3e-77aa y") == f"x {redact.REDACTED}-77aa y"
    redact.remember("tok-9f3e-77aa")  # met later, and holding the first: replaced whole
    assert redact.scrub("x tok-9f3e-77aa y") == f"x {redact.REDACTED} y"
    assert redact.scrub(json.dumps({"t": "tok-9f3e-77aa"})) == f'{{"t": "{redact.REDACTED}"}}'


def test_a_malformed_library_call_is_left_to_logging() -> None:
    make = logging.getLogRecordFactory()
    record = make("lib", logging.WARNING, __file__, 1, "%d", ("not a number",), None)
    assert (record.msg, record.args) == ("%d", ("not a number",))  # logging reports it later
