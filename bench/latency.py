"""A loopback proxy in front of the lab that holds every request for a fixed delay, as the
round trip to a real AWS endpoint does (~100 ms from outside its region), and counts how many
requests were in flight at once.

    proxy = LatencyProxy("http://127.0.0.1:PORT", delay_s=0.1)
    url = proxy.start()          # point AWS_ENDPOINT_URL at it
    ...
    proxy.stop(); proxy.requests, proxy.most_in_flight, proxy.rounds()
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


class LatencyProxy:
    def __init__(self, upstream: str, delay_s: float) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.delay_s = delay_s
        self.requests = 0
        self.in_flight = 0
        self.most_in_flight = 0
        # each request's (start, end) (monotonic) and what it asked (service:Operation)
        self.spans: list[tuple[float, float, str]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as botocore's pool expects

            def log_message(self, *_: object) -> None:
                return

            def _forward(self) -> None:
                body = self._body()
                start = proxy._enter()
                asked = _operation(self.headers, self.path, body)
                try:
                    time.sleep(proxy.delay_s)
                    status, reason, headers, answer = proxy._send(
                        self.command, self.path, dict(self.headers), body
                    )
                finally:
                    proxy._leave(start, asked)
                self.send_response(status, reason)
                for name, value in headers:
                    if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer)

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.requests = self.most_in_flight = 0
            self.spans = []

    def rounds(self) -> int:
        """The dependency rounds the run actually made: the longest chain of requests each
        sent after the one before it was answered. At a delay of D a request, no run that
        made these rounds can take less than rounds x D: its critical path."""
        return len(self.longest_chain())

    def longest_chain(self) -> list[str]:
        """The requests of the longest such chain, in order (service:Operation each)."""
        spans = sorted(self.spans, key=lambda span: span[1])
        length: list[int] = []
        after: list[int | None] = []
        for i, (start, _, _) in enumerate(spans):
            before = [j for j in range(i) if spans[j][1] <= start]
            best = max(before, key=lambda j: length[j], default=None)
            after.append(best)
            length.append(1 + (length[best] if best is not None else 0))
        last = max(range(len(spans)), key=lambda i: length[i], default=None)
        chain = []
        while last is not None:
            chain.append(spans[last][2])
            last = after[last]
        return chain[::-1]

    def _enter(self) -> float:
        with self._lock:
            self.requests += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        return time.monotonic()

    def _leave(self, start: float, asked: str) -> None:
        with self._lock:
            self.in_flight -= 1
            self.spans.append((start, time.monotonic(), asked))

    def _send(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
            sent["Content-Length"] = str(len(body))
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            return response.status, response.reason, response.getheaders(), response.read()
        finally:
            connection.close()


_SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/")


def _operation(headers: Any, path: str, body: bytes) -> str:
    """service:Operation of a signed AWS request: the service from the signature's scope, the
    operation from the JSON protocol's target, the query protocol's Action, or the REST path."""
    scope = _SCOPE.search(headers.get("Authorization", ""))
    service = scope[1] if scope else "?"
    target = headers.get("X-Amz-Target")
    if target:
        return f"{service}:{target.rsplit('.', 1)[-1]}"
    action = re.search(rb"(?:^|&)Action=(\w+)", body)
    if action:
        return f"{service}:{action[1].decode()}"
    return f"{service}:{path.split('?', 1)[0]}"
