"""Start, find and stop the lab's moto server (``runbook.lab.server``) from the project's scripts.

Only the standard library is used here, so that scripts can manage the lab without importing moto.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

SERVER_MODULE = "runbook.lab.server"
PID_FILE = "moto.pid"
URL_FILE = "moto.url"
LOG_FILE = "moto.log"
LOCK_FILE = "moto.lock"
HOST = "127.0.0.1"

# The lab is on loopback: an HTTP(S)_PROXY from the environment must never be used to reach it.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Servers this process started and has not stopped: kept to reap them (no zombie, no warning).
_STARTED: dict[int, subprocess.Popen[bytes]] = {}


class LabError(RuntimeError):
    """The lab server could not be started or reached."""


def answers(url: str, timeout: float = 1.0) -> bool:
    """Whether a moto server answers at ``url`` (its ``/moto-api/`` dashboard)."""
    try:
        with _OPENER.open(f"{url}/moto-api/", timeout=timeout) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


def endpoint(state_dir: Path) -> str | None:
    """The URL of the lab server running for ``state_dir``, or None when none answers."""
    pid = _read_pid(state_dir)
    if pid is None or not _is_lab_process(pid):
        return None
    try:
        url = (state_dir / URL_FILE).read_text().strip()
    except OSError:
        return None
    return url if url and answers(url) else None


def start(state_dir: Path, *, port: int = 0, timeout: float = 20.0) -> str:
    """Start the lab server for ``state_dir`` (or reuse the one running) and return its URL.

    The server runs detached in its own session so that it outlives the caller (a script, a
    test session) until ``stop`` is called; ``port=0`` picks a free loopback port.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    with _locked(state_dir):
        running = endpoint(state_dir)
        if running:
            return running
        _stop_unlocked(state_dir, timeout=5.0)  # a lab server that does not answer is broken
        port = port or _free_port()
        log_path = state_dir / LOG_FILE
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(_PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
        )
        command = [sys.executable, "-m", SERVER_MODULE]
        command += ["--port", str(port), "--state-dir", str(state_dir.resolve())]
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            url = endpoint(state_dir)
            if url:
                _STARTED[process.pid] = process
                return url
            time.sleep(0.1)
        status = process.poll()
        with suppress(ProcessLookupError):  # it leads its session: kill all it spawned
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        _remove_state_files(state_dir)
        why = f"exited with status {status}" if status is not None else f"timed out ({timeout}s)"
        raise LabError(f"lab moto server on port {port} failed to start ({why}); see {log_path}")


def stop(state_dir: Path, *, timeout: float = 10.0) -> bool:
    """Stop the lab server of ``state_dir``; return whether one was running.

    Only a process whose command line names the lab server is signalled, so a stale pid file
    whose number was reused by another process harms nothing.
    """
    if not state_dir.is_dir():
        return False
    with _locked(state_dir):
        return _stop_unlocked(state_dir, timeout)


def reset(url: str) -> None:
    """Wipe every resource in the lab (moto's ``/moto-api/reset``)."""
    _post(url, "/moto-api/reset", b"")


def set_config(url: str, config: dict[str, Any]) -> None:
    """Change moto's settings at run time (``{"stepfunctions": {"execute_state_machine": True}}``).

    Set Lambda's ``use_docker`` before creating functions: moto keeps them per setting.
    """
    _post(url, "/moto-api/config", json.dumps(config).encode())


THROTTLE_PATH = "/lab-api/throttle"


def throttle(
    url: str, fraction: float | None = None, operations: Sequence[str] = ()
) -> dict[str, Any]:
    """Make the lab server answer AWS requests with throttling errors, as AWS does; its state.

    ``fraction`` of the requests (deterministic: evenly spread, none twice in a row up to 0.5),
    of every signed request or of ``operations`` only (``service:Operation`` as the report
    names them; all of theirs unless a fraction is given); ``throttle(url, 0)`` turns it off.
    The state counts, since this call, the requests eligible and those refused.
    """
    setting: dict[str, Any] = {"operations": list(operations)}
    if fraction is not None:
        setting["fraction"] = fraction
    return _json(url, THROTTLE_PATH, json.dumps(setting).encode())


def throttling(url: str) -> dict[str, Any]:
    """The lab server's throttling state: fraction, operations, requests and throttled."""
    return _json(url, THROTTLE_PATH)


OPERATIONS_PATH = "/lab-api/operations"


def set_past_operations(url: str, setting: dict[str, Any]) -> dict[str, Any]:
    """Replace the state machine's executions and clear CloudWatch namespaces in the lab
    (what runbook/lab/past.py does in the server); the counts left."""
    return _json(url, OPERATIONS_PATH, json.dumps(setting).encode())


def _json(url: str, path: str, body: bytes | None = None) -> dict[str, Any]:
    """GET (or POST ``body`` to) a lab-api endpoint; its JSON answer, or LabError with why."""
    request = urllib.request.Request(
        f"{url}{path}", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with _OPENER.open(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as error:
        why = json.loads(error.read() or b"{}").get("error") or str(error)
        raise LabError(f"{request.get_method()} {url}{path} refused: {why}") from None
    except (OSError, ValueError) as error:
        raise LabError(f"{request.get_method()} {url}{path} failed: {error}") from error


def _stop_unlocked(state_dir: Path, timeout: float) -> bool:
    pid = _read_pid(state_dir)
    stopped = False
    if pid is not None and _is_lab_process(pid):
        _signal(pid, signal.SIGTERM)
        if not _wait_gone(pid, timeout):
            _signal(pid, signal.SIGKILL)
            _wait_gone(pid, timeout)
        stopped = True
    _remove_state_files(state_dir)
    return stopped


def _post(url: str, path: str, body: bytes) -> None:
    request = urllib.request.Request(
        f"{url}{path}", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with _OPENER.open(request, timeout=30) as response:
            response.read()
    except (OSError, ValueError) as error:
        raise LabError(f"POST {url}{path} failed: {error}") from error


@contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    """Serialise start/stop for one state dir (parallel test workers may share it)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _read_pid(state_dir: Path) -> int | None:
    try:
        return int((state_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def _is_lab_process(pid: int) -> bool:
    """Whether ``pid`` is a live lab server (a zombie's command line is empty)."""
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return SERVER_MODULE.encode() in arguments


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie has exited; its parent reaps it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pid: int, timeout: float) -> bool:
    process = _STARTED.get(pid)
    if process is not None:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        del _STARTED[pid]
        return True
    deadline = time.monotonic() + timeout
    while _running(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _signal(pid: int, signum: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.kill(pid, signum)


def _remove_state_files(state_dir: Path) -> None:
    for name in (PID_FILE, URL_FILE):
        (state_dir / name).unlink(missing_ok=True)
