"""A Slack-like incoming webhook on loopback, for the notification tests: it records each
POST (path, content type, JSON body) and answers with the status it is told."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# A Slack webhook URL's path is its secret: it must never be printed or reported.
SECRET_PATH = "T0000/B0000/webhook-path-secret-1f2e3d"


@dataclass
class Hook:
    """What the webhook received, and the status it answers with."""

    url: str = ""
    status: int = 200
    location: str | None = None  # sent with the status (a redirect)
    received: list[dict[str, Any]] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)  # paths asked for by GET


@contextmanager
def serve() -> Iterator[Hook]:
    """The webhook on a free loopback port, until the block ends. A POST is recorded before
    it is answered, so the sender sees it recorded once its request returns."""
    hook = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hook.received.append(
                {"path": self.path, "type": self.headers["Content-Type"], "json": json.loads(body)}
            )
            self.send_response(hook.status)
            if hook.location:
                self.send_header("Location", hook.location)
            self.end_headers()
            self.wfile.write(b"ok")

        def do_GET(self) -> None:
            """A redirect followed the way browsers do (POST turned into GET) lands here."""
            hook.fetched.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            """Quiet: the tests read what was received."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_port}/services/{SECRET_PATH}"
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
