"""Where a host's port is really dialled: the profile's address map (the lab's loopback
servers, a bastion's forwarded ports). Apart from the SSH code, so that reading it needs no
paramiko."""

from __future__ import annotations

import fnmatch

from runbook.profile import Hosts


def mapped(hosts: Hosts, host: str, port: int) -> tuple[str, int]:
    """Where ``host:port`` is really dialled (the first matching address-map entry)."""
    for pattern, target in hosts.address_map.items():
        if fnmatch.fnmatchcase(f"{host}:{port}", pattern):
            to_host, _, to_port = target.rpartition(":")
            return to_host, int(to_port)
    return host, port
