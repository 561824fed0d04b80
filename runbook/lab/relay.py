"""The lab's stand-in for ``aws ec2-instance-connect open-tunnel`` and ``aws ssm
start-session``: a ProxyCommand that joins its stdin and stdout to one TCP address.

    ProxyCommand python -m runbook.lab.relay --to 127.0.0.1:22022 --log FILE %h %p

Each connection appends ``%h:%p`` to ``--log``, so a test can tell the path was taken.
"""

from __future__ import annotations

import argparse
import os
import selectors
import socket
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="runbook.lab.relay")
    parser.add_argument("--to", required=True, help="host:port actually dialled")
    parser.add_argument("--log", help="a file to append the asked host:port to")
    parser.add_argument("host")
    parser.add_argument("port")
    ns = parser.parse_args(argv)
    if ns.log:
        with open(ns.log, "a", encoding="utf-8") as log:
            log.write(f"{ns.host}:{ns.port}\n")
    host, _, port = ns.to.rpartition(":")
    conn = socket.create_connection((host, int(port)), timeout=10)
    conn.settimeout(None)
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    selector = selectors.DefaultSelector()
    selector.register(stdin, selectors.EVENT_READ)
    selector.register(conn, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            if key.fileobj == stdin:
                data = os.read(stdin, 65536)
                if not data:
                    return 0
                conn.sendall(data)
            else:
                data = conn.recv(65536)
                if not data:
                    return 0
                os.write(stdout, data)


if __name__ == "__main__":
    sys.exit(main())
