"""The lab's real hosts: an OpenSSH server and a MariaDB server on loopback.

They play the database host and the access host. Each runs from its own configuration, keys
and data directory under the lab's folder (never the system's), on the loopback ports that
the lab profile's address map names, and is stopped by its PID. The SSH config written here
is what a user's ``~/.ssh/config`` would say; the run finds it through $RUNBOOK_SSH_CONFIG.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from contextlib import suppress
from pathlib import Path

from runbook.lab.control import LabError
from runbook.profile import Profile

SSHD = "/usr/sbin/sshd"
ADMIN_USER = "admin"
SERVERS = {"sshd": "sshd.pid", "mariadbd": "mariadb.pid"}
INSTALL_HINT = "run scripts/lab-packages.sh (as root) to install openssh-server and mariadb-server"


def folder(state_dir: Path) -> Path:
    return (state_dir / "hosts").resolve()


def port_for(profile: Profile, port: int) -> int:
    """The loopback port the lab profile maps every host's ``port`` to."""
    for pattern, target in profile.hosts.address_map.items():
        if pattern == f"*:{port}":
            return int(target.rpartition(":")[2])
    raise LabError(f"profiles/lab.toml: hosts.address_map needs an entry for '*:{port}'")


def environment(state_dir: Path) -> dict[str, str]:
    """What a run needs to reach the lab's hosts: the SSH config and MySQL admin login."""
    d = folder(state_dir)
    return {
        "RUNBOOK_SSH_CONFIG": str(d / "ssh_config"),
        "RUNBOOK_MYSQL_ADMIN_USER": ADMIN_USER,
        "RUNBOOK_MYSQL_ADMIN_PASSWORD": (d / "admin-password").read_text().strip(),
    }


def start(state_dir: Path, profile: Profile) -> dict[str, str]:
    """Start sshd and MariaDB for the lab (or keep the running ones); their environment."""
    for tool in (SSHD, "mariadbd", "mariadb-install-db", "ssh-keygen"):
        if shutil.which(tool) is None:
            raise LabError(f"{tool} not found: {INSTALL_HINT}")
    d = folder(state_dir)
    d.mkdir(parents=True, exist_ok=True)
    (d / "admin-password").touch(mode=0o600)
    if not (d / "admin-password").read_text().strip():
        (d / "admin-password").write_text(f"canary-mysql-admin-{secrets.token_hex(8)}\n")
    _start_sshd(d, port_for(profile, 22))
    _start_mariadb(d, port_for(profile, profile.database.mysql_port))
    return environment(state_dir)


def stop(state_dir: Path) -> None:
    d = folder(state_dir)
    for name, pid_file in SERVERS.items():
        pid = _pid(d / pid_file, name, d)
        if pid is not None:
            _kill(pid)
        (d / pid_file).unlink(missing_ok=True)


def running(state_dir: Path, name: str) -> bool:
    d = folder(state_dir)
    return _pid(d / SERVERS[name], name, d) is not None


def reload_sshd(state_dir: Path, extra: str = "") -> None:
    """Rewrite sshd's configuration (plus ``extra`` lines) and make it re-read it."""
    d = folder(state_dir)
    _write_sshd_config(d, _sshd_port(d), extra)
    pid = _pid(d / SERVERS["sshd"], "sshd", d)
    if pid is None:
        raise LabError("the lab's sshd is not running")
    os.kill(pid, signal.SIGHUP)
    time.sleep(0.3)  # sshd re-execs itself on SIGHUP
    _wait_port(_sshd_port(d))


def stop_mariadb(state_dir: Path) -> None:
    d = folder(state_dir)
    pid = _pid(d / SERVERS["mariadbd"], "mariadbd", d)
    if pid is not None:
        _kill(pid)


def start_mariadb(state_dir: Path, profile: Profile, bind: str = "127.0.0.1") -> None:
    _start_mariadb(folder(state_dir), port_for(profile, profile.database.mysql_port), bind)


def admin_sql(state_dir: Path, *statements: str) -> None:
    """Statements as MariaDB's root over its socket (the lab's hand on the database host)."""
    import pymysql

    conn = pymysql.connect(
        unix_socket=str(folder(state_dir) / "mysql" / "mysqld.sock"), user="root"
    )
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def _start_sshd(d: Path, port: int) -> None:
    if _pid(d / SERVERS["sshd"], "sshd", d) is not None:
        return
    for key in ("host_key", "client_key"):
        if not (d / key).exists():
            new_key(d / key)
    shutil.copy(d / "client_key.pub", d / "authorized_keys")
    (d / "known_hosts").touch()
    (d / "ssh_config").write_text(
        "# The lab's hosts, as a user's ~/.ssh/config would describe them.\n"
        "Host *\n"
        "  User root\n"
        f"  IdentityFile {d / 'client_key'}\n"
        "  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {d / 'known_hosts'}\n"
        "  StrictHostKeyChecking accept-new\n"
    )
    _port_free(port, "sshd")
    _write_sshd_config(d, port)
    Path("/run/sshd").mkdir(exist_ok=True)
    _spawn([SSHD, "-D", "-f", str(d / "sshd_config"), "-E", str(d / "sshd.log")], d / "sshd.out")
    _wait_port(port, what="sshd", log=d / "sshd.log")


def new_key(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def _write_sshd_config(d: Path, port: int, extra: str = "") -> None:
    (d / "sshd_config").write_text(
        f"Port {port}\n"
        "ListenAddress 127.0.0.1\n"
        f"HostKey {d / 'host_key'}\n"
        f"PidFile {d / SERVERS['sshd']}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\n"
        "PermitRootLogin prohibit-password\n"
        "PubkeyAuthentication yes\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UsePAM no\n"
        "StrictModes no\n"
        "AllowTcpForwarding yes\n"
        f"{extra}"
    )


def _sshd_port(d: Path) -> int:
    for line in (d / "sshd_config").read_text().splitlines():
        if line.startswith("Port "):
            return int(line.split()[1])
    raise LabError("the lab's sshd_config names no port")


def _start_mariadb(d: Path, port: int, bind: str = "127.0.0.1") -> None:
    data = d / "mysql"
    if _pid(d / SERVERS["mariadbd"], "mariadbd", d) is not None:
        return
    if not (data / "mysql").is_dir():
        data.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mariadb-install-db", "--user=root", f"--datadir={data}", "--skip-test-db"],
            check=True,
            capture_output=True,
        )
    _port_free(port, "MariaDB", bind)
    _spawn(
        [
            "mariadbd",
            "--no-defaults",
            "--user=root",
            f"--datadir={data}",
            f"--bind-address={bind}",
            f"--port={port}",
            f"--socket={data / 'mysqld.sock'}",
            f"--pid-file={d / SERVERS['mariadbd']}",
            "--skip-name-resolve",
            f"--log-error={d / 'mariadb.log'}",
        ],
        d / "mariadb.out",
    )
    _wait_port(port, what="MariaDB", log=d / "mariadb.log", host=bind)
    password = (d / "admin-password").read_text().strip()
    admin = f"'{ADMIN_USER}'@'127.0.0.0/255.0.0.0'"
    admin_sql(
        d.parent,
        f"CREATE USER IF NOT EXISTS {admin} IDENTIFIED BY '{password}'",
        f"GRANT ALL PRIVILEGES ON *.* TO {admin} WITH GRANT OPTION",
    )


def _spawn(command: list[str], out: Path) -> None:
    with out.open("ab") as log:
        subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _port_free(port: int, what: str, host: str = "127.0.0.1") -> None:
    """Another lab's server on the port would be taken for this one's: refuse to start."""
    with suppress(OSError), socket.create_connection((host, port), timeout=1):
        raise LabError(
            f"the lab's {what} port {host}:{port} is in use (another lab? stop it with "
            "`notifier-runbook lab down --lab-dir DIR`, or change hosts.address_map)"
        )


def _wait_port(
    port: int, what: str = "server", log: Path | None = None, host: str = "127.0.0.1"
) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with suppress(OSError), socket.create_connection((host, port), timeout=1):
            return
        time.sleep(0.1)
    raise LabError(f"the lab's {what} did not listen on {host}:{port}; see {log}")


def _pid(pid_file: Path, name: str, d: Path) -> int | None:
    """The PID in ``pid_file`` if it is the lab's ``name`` server for this folder."""
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError):
        return None
    return pid if name in cmdline and str(d) in cmdline else None


def _kill(pid: int) -> None:
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        with suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
