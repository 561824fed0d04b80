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
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
        self.spans: list[tuple[float, float]] = []  # each request's (start, end), monotonic
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
                try:
                    time.sleep(proxy.delay_s)
                    status, reason, headers, answer = proxy._send(
                        self.command, self.path, dict(self.headers), body
                    )
                finally:
                    proxy._leave(start)
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
        spans = sorted(self.spans, key=lambda span: span[1])
        chain: list[int] = []
        for i, (start, _) in enumerate(spans):
            before = [chain[j] for j in range(i) if spans[j][1] <= start]
            chain.append(1 + max(before, default=0))
        return max(chain, default=0)

    def _enter(self) -> float:
        with self._lock:
            self.requests += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        return time.monotonic()

    def _leave(self, start: float) -> None:
        with self._lock:
            self.in_flight -= 1
            self.spans.append((start, time.monotonic()))

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
