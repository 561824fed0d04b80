"""The hosts as SSH and MySQL see them: testinfra on a connected paramiko client, a forwarded
channel from the access host, a MySQL login through it. Imported when a host check runs, so
that a run without one never loads paramiko, testinfra or pymysql."""

from __future__ import annotations

import re
from typing import Any

import paramiko
import pymysql
from testinfra.backend.paramiko import ParamikoBackend
from testinfra.host import Host

from runbook.aws.collected import CollectionError
from runbook.hosts.access import HostAccess
from runbook.hosts.addresses import mapped

SERVER_PROCESSES = ("mysqld", "mariadbd")
CONNECT_FAILED = 2  # SSH_OPEN_CONNECT_FAILED: the access host's own connect() failed
# MySQL refusing the notifier's credentials (1045) or its database (1044): a fail of the login.
LOGIN_REFUSED = (1045, 1044)


class _Connected(ParamikoBackend):
    """testinfra's paramiko backend on a client this project connected (jump hosts, map)."""

    def __init__(self, client: paramiko.SSHClient, name: str, timeout: float) -> None:
        super().__init__(f"paramiko://{name}", timeout=int(timeout))
        self.__dict__["client"] = client  # the backend's cached_property, filled in
        self._timeout = timeout

    def _exec_command(self, command: bytes) -> tuple[int, bytes, bytes]:
        transport = self.client.get_transport()
        assert transport is not None
        chan = transport.open_session(timeout=self._timeout)
        chan.settimeout(self._timeout)
        chan.exec_command(command)
        stdout = b"".join(chan.makefile("rb"))
        stderr = b"".join(chan.makefile_stderr("rb"))
        return chan.recv_exit_status(), stdout, stderr


def database_host(access: HostAccess, inv: Any) -> dict[str, Any]:
    """The MySQL server on the database host, with testinfra's resource objects."""
    name = access.database_destination(inv)
    client = access.connections.client(name)
    host = Host(_Connected(client, name, access.profile.hosts.timeout_s))
    h = access.profile.hosts
    try:
        package = host.package(h.mysql_package)
        installed = package.is_installed
        service = host.service(h.mysql_service)
        running = [p.comm for p in host.process.filter() if p.comm in SERVER_PROCESSES]
        address, port = mapped(h, access.database_address(inv), access.profile.database.mysql_port)
        # Reachable from the VPC: on every address, or on the one the others dial.
        wanted = {f"tcp://{a}:{port}" for a in ("0.0.0.0", "::", address)}
        return {
            "host": name,
            "package": h.mysql_package,
            "installed": installed,
            "version": package.version if installed else None,
            "service": h.mysql_service,
            "enabled": service.is_enabled,
            "processes": sorted(set(running)),
            "listening": bool(wanted & set(host.socket.get_listening_sockets())),
        }
    except (OSError, EOFError, paramiko.SSHException) as exc:
        raise CollectionError(
            "unreachable", f"SSH to {name}: the connection failed mid-check ({exc})"
        ) from None


def port_from_access_host(access: HostAccess, inv: Any) -> dict[str, Any]:
    """TCP to the database's port from the access host: a forwarded channel, opened and
    closed (the access host's own connect() decides)."""
    via = access.access_destination(inv)
    access.database_running(inv)
    db, port = access.database_address(inv), access.profile.database.mysql_port
    facts: dict[str, Any] = {"access_host": via, "database": f"{db}:{port}"}
    try:
        _tunnel(access, via, db, port).close()
    except _NotReached as exc:
        return {**facts, "reachable": False, "reach_error": str(exc)}
    return {**facts, "reachable": True}


def login(access: HostAccess, inv: Any, reach: dict[str, Any]) -> dict[str, Any]:
    """A login with the notifier's credentials, through the access host."""
    user, password = access.notifier_credentials()
    db, port = access.database_address(inv), access.profile.database.mysql_port
    try:
        channel = _tunnel(access, reach["access_host"], db, port)
    except _NotReached as exc:
        raise CollectionError("unreachable", f"MySQL at {db}:{port}: {exc}") from None
    facts: dict[str, Any] = {**reach, "user": user}
    try:
        facts.update(_mysql_facts(channel, db, port, user, password, access))
    except pymysql.err.OperationalError as exc:
        code = exc.args[0] if exc.args else None
        if code not in LOGIN_REFUSED:  # lost, timed out, overloaded: not the notifier's fault
            raise CollectionError(
                "unreachable", f"MySQL at {db}:{port}: {_without(str(exc), password)}"
            ) from None
        facts["login"] = {"ok": False, "code": code, "error": _without(str(exc), password)}
    finally:
        channel.close()
    return facts


class _NotReached(Exception):
    """The access host could not connect to the database (refused or no answer)."""


def _tunnel(access: HostAccess, via: str, db: str, port: int) -> paramiko.Channel:
    """A channel from the access host to the database; _NotReached when the network says no."""
    try:
        return access.connections.tunnel(via, db, port)
    except paramiko.ChannelException as exc:
        if exc.code != CONNECT_FAILED:  # the access host refuses to forward: not the network
            raise CollectionError(
                "ssh-forwarding",
                f"SSH to {via}: TCP forwarding refused ({exc.text}); allow it "
                "(AllowTcpForwarding, PermitOpen) for the check to go through this host",
            ) from None
        raise _NotReached(f"{exc.text} (code {exc.code})") from None
    except paramiko.SSHException as exc:
        if "Timeout opening channel" not in str(exc):  # a dead session, not the network
            raise CollectionError("unreachable", f"SSH to {via}: {exc}") from None
        raise _NotReached("timed out (no answer)") from None


def _mysql_facts(
    channel: paramiko.Channel, db: str, port: int, user: str, password: str, access: HostAccess
) -> dict[str, Any]:
    conn = pymysql.connect(
        host=db,
        port=port,
        user=user,
        password=password,
        defer_connect=True,
        connect_timeout=access.profile.hosts.timeout_s,
        read_timeout=access.profile.hosts.timeout_s,
        write_timeout=access.profile.hosts.timeout_s,
    )
    conn.connect(sock=channel)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION(), CURRENT_USER()")
            version, current = cur.fetchone()
            names = access.profile.database.mysql_databases
            cur.execute(
                "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
                "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN %s",
                (names,),
            )
            schemas = {n: {"charset": c, "collation": co} for n, c, co in cur.fetchall()}
            cur.execute("SHOW GRANTS")
            grants = [row[0] for row in cur.fetchall()]
    finally:
        conn.close()
    return {
        "login": {"ok": True},
        "version": version,
        "current_user": current,
        "schemas": schemas,
        "grants": [_without(g, password) for g in grants],
    }


def _without(text: str, secret: str) -> str:
    """SHOW GRANTS may print a password hash, errors may echo input: keep neither."""
    text = re.sub(r"IDENTIFIED (BY|VIA|WITH) .*", r"IDENTIFIED \1 <redacted>", text)
    return text.replace(secret, "<redacted>") if secret else text
