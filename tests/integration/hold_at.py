"""Hold a runbook process just before one AWS call, until the test kills it.

A kill "after some of perform's actions" then lands exactly where the test chose (between two
calls, e.g. after an address is allocated and before it is associated), not wherever a timer
happened to fall. Imported by the process under test: ``-p tests.integration.hold_at`` for a
pytest run, a plain import for a script. ``RUNBOOK_TEST_HOLD_AT=service:Operation[#n]`` names
the call (its n-th occurrence, default the first); before it is made, the file named by
``RUNBOOK_TEST_HOLD_MARKER`` is written and the process waits to be killed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from runbook.aws.session import AwsSession

HOLD_ENV = "RUNBOOK_TEST_HOLD_AT"
MARKER_ENV = "RUNBOOK_TEST_HOLD_MARKER"
HOLD_MAX_S = 600  # a test that never kills does not leave the process behind for ever


def install(spec: str, marker: Path) -> None:
    """Hold every session of this process before the call ``spec`` names."""
    operation, _, nth = spec.partition("#")
    seen = [0]
    original = AwsSession._before_call

    def before_call(self: AwsSession, service: str, model: Any, **kwargs: Any) -> None:
        if f"{service}:{model.name}" == operation:
            seen[0] += 1
            if seen[0] == int(nth or 1):
                marker.write_text(spec)
                time.sleep(HOLD_MAX_S)
                os._exit(3)
        original(self, service, model, **kwargs)

    AwsSession._before_call = before_call  # type: ignore[method-assign]


if os.environ.get(HOLD_ENV):
    install(os.environ[HOLD_ENV], Path(os.environ[MARKER_ENV]))
