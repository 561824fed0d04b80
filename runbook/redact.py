"""Secret values are reduced at the source to what checks need: keys, types, keyed digests.

The digest key lives only in this process, so a check can ask "is mysql_host this IP?"
without anything being able to print, store or brute-force the value later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
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
    return {"is_json_object": True, "keys": keys, "digests": digests, "fingerprint": fingerprint}
