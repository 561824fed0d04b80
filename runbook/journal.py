"""A guided run's journal: one JSON object per line, appended and synced line by line.

Every line has ``event`` and ``at`` (UTC, ISO 8601); a line is either whole on disk or not
there, so a killed process leaves a journal that reads to its last event. Secrets never reach
it: every line goes through the run's redaction. The format is in docs/guide.md.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runbook.redact import scrub_data


class Journal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # O_APPEND: each line is written at the end whatever else has the file open.
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, event: str, **fields: Any) -> dict[str, Any]:
        line = {"event": event, "at": now(), **scrub_data(fields)}
        data = (json.dumps(line, default=str, ensure_ascii=False) + "\n").encode()
        os.write(self._fd, data)
        os.fsync(self._fd)
        return line

    def close(self) -> None:
        os.close(self._fd)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read(path: Path) -> list[dict[str, Any]]:
    """The journal's events; a last line cut short (the process killed mid-write) is left
    out, as are lines that are not JSON objects."""
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and "event" in event:
            events.append(event)
    return events


def stamp() -> str:
    """A journal's file name: when the run began, sortable (``20261203T091100Z``)."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
