"""For the time-out tests: a hung peer, and profiles with small bounds.

The peer is a loopback port that accepts and never says a word. It stands for an AWS endpoint
that stopped answering and for an SSH host that never sends its banner: TCP connects, then
nothing comes back, so only the client's own bounds end the wait.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from runbook.findings import Finding
from runbook.profile import Profile


@dataclass
class Silent:
    """Where the silent peer listens, and how many connections it has swallowed."""

    host: str
    port: int
    accepted: int = 0
    _held: list[socket.socket] = field(default_factory=list, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@contextmanager
def silent_listener() -> Iterator[Silent]:
    """Accept every connection and keep it open, unread and unanswered, until the end."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)  # lets the accepting thread notice the end
    peer = Silent(*server.getsockname()[:2])
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            peer._held.append(conn)
            peer.accepted += 1

    thread = threading.Thread(target=accept, name="silent-listener", daemon=True)
    thread.start()
    try:
        yield peer
    finally:
        done.set()
        thread.join(timeout=5)
        server.close()
        for conn in peer._held:
            conn.close()


def with_timeouts(profile: Profile, **timeouts: Any) -> Profile:
    """``profile`` with some ``timeouts.*`` keys changed: small bounds to wait for."""
    return profile.model_copy(update={"timeouts": profile.timeouts.model_copy(update=timeouts)})


def cause(found: Finding) -> str | None:
    """Why a finding is an error, as its evidence says (``unreachable``, ``throttled``, ...)."""
    return (found.evidence or {}).get("cause")
