"""Secret values are reduced at the source to what checks need: keys, types, keyed digests;
and no log record, finding or report can carry a secret value met during the run.

The digest key lives only in this process, so a check can ask "is mysql_host this IP?"
without anything being able to print, store or brute-force the value later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
from collections.abc import Callable
from typing import Any

_RUN_KEY = secrets.token_bytes(32)


def digest(value: str) -> str:
    """A keyed digest of one value, comparable within this process only."""
    return hmac.new(_RUN_KEY, value.encode(), hashlib.sha256).hexdigest()[:32]


def shape_of(secret_string: str | None) -> dict[str, Any]:
    """Keys, types, emptiness and digests of a secret's JSON value: nothing else survives."""
    if secret_string is None:
        return {"is_json_object": False, "keys": {}, "digests": {}, "fingerprint": None}
    fingerprint = digest(secret_string)
    try:
        value = json.loads(secret_string)
    except ValueError:
        return {"is_json_object": False, "keys": {}, "digests": {}, "fingerprint": fingerprint}
    if not isinstance(value, dict):
        return {"is_json_object": False, "keys": {}, "digests": {}, "fingerprint": fingerprint}
    keys = {
        k: {"type": type(v).__name__, "empty": not (isinstance(v, str) and v.strip())}
        for k, v in value.items()
    }
    digests = {k: digest(v) for k, v in value.items() if isinstance(v, str)}
    for k, v in value.items():
        if isinstance(v, str) and is_secret_key(k):
            remember(v)
    return {"is_json_object": True, "keys": keys, "digests": digests, "fingerprint": fingerprint}


# --- Values that must never be written anywhere -------------------------------------------

REDACTED = "<redacted>"
SECRET_WORDS = ("password", "secret", "token", "key")
SECRET_ENV = "RUNBOOK_SECRET_"  # + a key of the secret, e.g. RUNBOOK_SECRET_GMAIL_PASSWORD
ADMIN_PASSWORD_ENV = "RUNBOOK_MYSQL_ADMIN_PASSWORD"
_KNOWN: set[str] = set()
# botocore's DEBUG records that carry whole request and response bodies: a GetSecretValue
# answer or a PutSecretValue request holds every secret value.
_BODIES = {
    ("botocore.parsers", "Response body:\n%r"),
    ("botocore.endpoint", "Making request for %s with params: %s"),
}


def is_secret_key(key: str) -> bool:
    """Whether a secret's key (or RUNBOOK_SECRET_<KEY>) names a credential, not e.g. a host."""
    return any(word in key.lower() for word in SECRET_WORDS)


_FORMS: tuple[str, ...] = ()  # every form of the known values, the longest values first
_REMEMBERING = threading.Lock()  # a fleet's runs remember values at once


def remember(value: str | None) -> None:
    """A secret value met at run time: from now on no log record can carry it."""
    global _FORMS
    if not value or len(value) < 4:
        return
    with _REMEMBERING:
        if value not in _KNOWN:
            _KNOWN.add(value)
            longest = sorted(_KNOWN, key=len, reverse=True)
            _FORMS = tuple(form for known in longest for form in _forms(known))


def _forms(value: str) -> dict[str, None]:
    """The value raw, JSON-escaped once and twice, and as Python's repr shows it."""
    once = json.dumps(value)[1:-1]
    return dict.fromkeys((value, once, json.dumps(once)[1:-1], repr(value)[1:-1]))


def scrub(text: str) -> str:
    """``text`` with every remembered secret value, raw or JSON-escaped, replaced (its forms
    made once, when it is remembered: a report scrubs thousands of strings)."""
    for form in _FORMS:
        if form in text:
            text = text.replace(form, REDACTED)
    return text


def scrub_data(data: Any) -> Any:
    """``data`` with the remembered secret values replaced in its strings (keys included)."""
    if not _KNOWN:
        return data
    if isinstance(data, str):
        return scrub(data)
    if isinstance(data, dict):
        return {scrub_data(k): scrub_data(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return type(data)(scrub_data(v) for v in data)
    return data


def install_log_redaction(environ: dict[str, str]) -> None:
    """Make every log record of this process free of secrets, whoever logs and handles it.

    The values given at run time (RUNBOOK_SECRET_<...PASSWORD...>, the MySQL administrator's
    password) are known from the start; values read from AWS are remembered when read. AWS
    bodies are never logged, since a secret's value is in them before anything can learn it.
    """
    for key, value in environ.items():
        secret_key = key.removeprefix(SECRET_ENV)
        if key == ADMIN_PASSWORD_ENV or (secret_key != key and is_secret_key(secret_key)):
            remember(value)
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, _RedactingFactory):
        logging.setLogRecordFactory(_RedactingFactory(factory))


class _RedactingFactory:
    def __init__(self, base: Callable[..., logging.LogRecord]) -> None:
        self.base = base

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.base(*args, **kwargs)
        if (record.name, record.msg) in _BODIES:
            record.args = tuple(_without_body(a) for a in record.args or ())
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: logging reports it when the record is handled
            return record
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return record


def _without_body(arg: Any) -> Any:
    if isinstance(arg, bytes | bytearray | str):
        return f"<{len(arg)} bytes, not logged: AWS bodies may hold secrets>"
    if isinstance(arg, dict) and "body" in arg:
        return {**arg, "body": "<not logged: AWS bodies may hold secrets>"}
    return arg
