"""SSH to the deployment's hosts the way ``ssh`` would, and tunnels through them.

The user's SSH config is honoured (HostName, User, Port, IdentityFile, ProxyJump,
ProxyCommand, UserKnownHostsFile, StrictHostKeyChecking), as are the agent and the default
keys. ProxyJump is done here (a direct-tcpip channel on the jump host), because paramiko
ignores it. ProxyCommand is how the access hosts that replace Cloud9 are reached: `aws
ec2-instance-connect open-tunnel --instance-id %h` (an EC2 Instance Connect Endpoint) or `aws
ssm start-session --target %h --document-name AWS-StartSSHSession` (Session Manager). Every
address dialled directly, for SSH and for tunnels, goes through the profile's address map
first: that is how the lab's VPC addresses reach its loopback servers, and no check sees it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko

from runbook.aws.collected import CollectionError
from runbook.hosts.addresses import mapped
from runbook.profile import Hosts
from runbook.redact import scrub

SSH_CONFIG_ENV = "RUNBOOK_SSH_CONFIG"
# paramiko's transport thread logs every failed negotiation with a traceback; the failure is
# reported once, as the checks' one-line error, so our transports log only what is critical.
PARAMIKO_LOG = "runbook.hosts.paramiko"
logging.getLogger(PARAMIKO_LOG).setLevel(logging.CRITICAL)
# What paramiko raises when the host accepted TCP but said nothing within the time-out.
_SILENT = ("No existing session", "Error reading SSH protocol banner")


@dataclass(frozen=True)
class Destination:
    """One SSH destination resolved through the SSH config."""

    name: str
    hostname: str
    port: int
    user: str
    identity_files: tuple[str, ...]
    known_hosts: tuple[str, ...]
    strict: str
    proxy_jump: str | None
    proxy_command: str | None = None  # with %h, %p, %r already expanded by the config


def ssh_config_path(hosts: Hosts) -> Path:
    return Path(os.environ.get(SSH_CONFIG_ENV) or hosts.ssh_config).expanduser()


def resolve(hosts: Hosts, name: str) -> Destination:
    path = ssh_config_path(hosts)
    config = paramiko.SSHConfig.from_path(str(path)) if path.is_file() else paramiko.SSHConfig()
    got = config.lookup(name)
    known = tuple(
        os.path.expanduser(f)
        for f in str(got.get("userknownhostsfile", "~/.ssh/known_hosts")).split()
    )
    jump = got.get("proxyjump")
    command = got.get("proxycommand")
    return Destination(
        name=name,
        hostname=got.get("hostname", name),
        port=int(got.get("port", 22)),
        user=got.get("user", hosts.user),
        identity_files=tuple(os.path.expanduser(f) for f in got.get("identityfile", [])),
        known_hosts=known,
        strict=str(got.get("stricthostkeychecking", "ask")).lower(),
        # A chain a,b: the last hop reaches the target, through the hops before it.
        proxy_jump=None if jump in (None, "none") else str(jump),
        proxy_command=None if command in (None, "none") else str(command),
    )


@dataclass
class Connections:
    """Open SSH clients of a run, closed together at its end."""

    hosts: Hosts
    _open: dict[str, paramiko.SSHClient] = field(default_factory=dict)

    def client(self, name: str) -> paramiko.SSHClient:
        """A connected client for ``name``; a failure is a CollectionError naming the cause."""
        known = self._open.get(name)
        transport = known.get_transport() if known else None
        if transport is None or not transport.is_active():
            self._open[name] = self._connect(self._destination(name))
        return self._open[name]

    def _destination(self, spec: str) -> Destination:
        """An alias of the SSH config, or ProxyJump's ``[user@]host[:port]`` form."""
        d = resolve(self.hosts, spec)
        user, at, rest = spec.rpartition("@")
        host, colon, port = rest.partition(":")
        if not (at or colon):
            return d
        base = resolve(self.hosts, host)
        return dataclasses.replace(
            base,
            name=spec,
            user=user or base.user,
            port=int(port) if port.isdigit() else base.port,
        )

    def tunnel(self, via: str, host: str, port: int) -> paramiko.Channel:
        """A TCP connection to ``host:port`` made by the host ``via`` (ssh -W)."""
        transport = self.client(via).get_transport()
        assert transport is not None
        return transport.open_channel(
            "direct-tcpip",
            mapped(self.hosts, host, port),
            ("127.0.0.1", 0),
            timeout=self.hosts.timeout_s,
        )

    def close(self) -> None:
        for client in reversed(list(self._open.values())):
            client.close()
        self._open.clear()

    def _connect(self, d: Destination) -> paramiko.SSHClient:
        timeout = self.hosts.timeout_s
        where = f"{d.user}@{d.name}" + (
            f" via {d.proxy_jump}"
            if d.proxy_jump
            else f" through ProxyCommand {d.proxy_command.split()[0]}"
            if d.proxy_command
            else ""
        )
        sock: Any = None

        def unreachable(cause: BaseException | str) -> CollectionError:
            """The ProxyCommand's own last words, when it died, say more than the socket; one
            that cannot be run at all is no host still booting (nothing to wait for)."""
            if d.proxy_command and sock is None and isinstance(cause, OSError):
                return _cannot_run(where, f"{cause.strerror}: {cause.filename or d.proxy_command}")
            if isinstance(sock, _Proxy):
                said = _proxy_exit(sock)
                if said and said.startswith(CANNOT_RUN):
                    return _cannot_run(where, said)
                return _unreachable(where, said or cause)
            return _unreachable(where, cause)

        try:
            if d.proxy_command:  # OpenSSH: ProxyCommand wins over ProxyJump
                sock = _Proxy(d.proxy_command)
                sock.settimeout(timeout)
            elif d.proxy_jump:
                *before, last = d.proxy_jump.split(",")
                if before:  # the last hop is reached through the ones before it
                    self._open.setdefault(
                        last,
                        self._connect(
                            dataclasses.replace(
                                self._destination(last), proxy_jump=",".join(before)
                            )
                        ),
                    )
                sock = self.tunnel(last, d.hostname, d.port)
            else:
                sock = socket.create_connection(mapped(self.hosts, d.hostname, d.port), timeout)
            client = paramiko.SSHClient()
            client.set_log_channel(PARAMIKO_LOG)
            for path in d.known_hosts:
                if os.path.isfile(path):
                    try:
                        client.load_host_keys(path)
                    except Exception as exc:  # paramiko raises bare InvalidHostKey
                        raise CollectionError(
                            "host-key", f"cannot read known hosts {path}: {exc}"
                        ) from None
            accept_new = d.strict in ("accept-new", "no", "off")
            client.set_missing_host_key_policy(
                _AppendNew(d.known_hosts[0])
                if accept_new and d.known_hosts
                else paramiko.AutoAddPolicy()
                if accept_new
                else paramiko.RejectPolicy()
            )
            client.connect(
                d.hostname,
                port=d.port,
                username=d.user,
                key_filename=list(d.identity_files) or None,
                sock=sock,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                channel_timeout=timeout,
            )
            return client
        except CollectionError:
            raise
        except paramiko.BadHostKeyException:
            raise CollectionError(
                "host-key",
                f"SSH to {where}: the host key changed since it was recorded in known_hosts; "
                "make sure the host is the right one, then update known_hosts",
            ) from None
        except paramiko.AuthenticationException:
            raise CollectionError(
                "ssh-auth",
                f"SSH to {where}: authentication failed; check the IdentityFile, the agent and "
                "the host's authorized_keys",
            ) from None
        except paramiko.ProxyCommandFailure as exc:
            raise unreachable(f"the ProxyCommand failed: {exc.error}") from None
        except paramiko.SSHException as exc:
            if "not found in known_hosts" in str(exc):
                raise CollectionError(
                    "host-key",
                    f"SSH to {where}: host key unknown; add it to known_hosts (ssh-keyscan) or "
                    "set StrictHostKeyChecking accept-new for it",
                ) from None
            if str(exc) in _SILENT:
                raise unreachable(f"no SSH answer within {timeout:g} s") from None
            raise unreachable(exc) from None
        except (OSError, EOFError) as exc:
            raise unreachable(exc) from None


class _AppendNew(paramiko.MissingHostKeyPolicy):
    """accept-new as OpenSSH does it: record an unknown host's key by appending one line."""

    def __init__(self, path: str) -> None:
        self.path = path

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        Path(self.path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as known:
            known.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")


class _Proxy(paramiko.ProxyCommand):
    """paramiko's ProxyCommand, whose close may come twice (the transport's thread, and a
    failed connection's cleanup) without raising from a thread."""

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):  # ended and reaped already
            super().close()


def _proxy_exit(proxy: _Proxy) -> str | None:
    """How a ProxyCommand ended by itself, with the last line it wrote to stderr (``aws``
    says why there: access denied, no such instance, ...); None when it was still running or
    was stopped (then the connection over it is what failed, and it is stopped now)."""
    process = proxy.process
    try:
        code = process.wait(timeout=1)
    except subprocess.TimeoutExpired:
        proxy.close()
        process.wait()
        return None
    if code < 0:  # stopped by a signal: paramiko closes it when the connection times out
        return None
    assert process.stderr is not None
    os.set_blocking(process.stderr.fileno(), False)
    try:
        err = process.stderr.read(65536) or b""
    except OSError:
        err = b""
    lines = [line.strip() for line in err.decode("utf-8", "replace").splitlines() if line.strip()]
    return f"the ProxyCommand exited {code}" + (f": {scrub(lines[-1])[:300]}" if lines else "")


# A shell's exit statuses for a command it could not run (not executable, not found).
CANNOT_RUN = ("the ProxyCommand exited 126", "the ProxyCommand exited 127")


def _cannot_run(where: str, cause: str) -> CollectionError:
    return CollectionError(
        "not-configured",
        f"SSH to {where}: the ProxyCommand cannot be run ({cause}); install the command (the "
        "AWS CLI and its Session Manager plugin) or fix ProxyCommand in the SSH config",
    )


def _unreachable(where: str, exc: BaseException | str) -> CollectionError:
    cause = exc if isinstance(exc, str) else str(exc) or type(exc).__name__
    return CollectionError(
        "unreachable",
        f"SSH to {where}: host unreachable ({cause}); check that it runs, the network path "
        "and the ProxyJump or ProxyCommand",
    )
