"""A ProxyCommand that dies says why in the host checks' one line: the AWS CLI writes the cause
(access denied, no such instance) to stderr and exits, and that last line is the news."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from runbook.aws.collected import CollectionError
from runbook.hosts.connect import SSH_CONFIG_ENV, Connections
from runbook.profile import Hosts


def _config(tmp_path: Path, command: str) -> Path:
    config = tmp_path / "ssh_config"
    config.write_text(f"Host i-*\n  User ec2-user\n  ProxyCommand {command}\n")
    return config


def _failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> CollectionError:
    proxy = tmp_path / "proxy.py"
    proxy.write_text(script)
    command = f"{sys.executable} {proxy} %h %p"
    monkeypatch.setenv(SSH_CONFIG_ENV, str(_config(tmp_path, command)))
    with pytest.raises(CollectionError) as caught:
        Connections(Hosts(timeout_s=2)).client("i-0abc")
    return caught.value


def test_the_proxy_commands_last_stderr_line_and_exit_status_are_the_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    error = _failure(
        tmp_path,
        monkeypatch,
        "import sys\n"
        "print('Starting tunnel', file=sys.stderr)\n"
        "print('An error occurred (AccessDeniedException) when calling the OpenTunnel "
        "operation: not authorized for ' + sys.argv[1], file=sys.stderr)\n"
        "sys.exit(255)\n",
    )
    message = str(error)
    assert error.kind == "unreachable"
    assert "through ProxyCommand" in message and "\n" not in message
    assert (
        "the ProxyCommand exited 255: An error occurred (AccessDeniedException) when calling "
        "the OpenTunnel operation: not authorized for i-0abc" in message
    )
    assert "Starting tunnel" not in message  # the last line, not the chatter


def test_a_proxy_that_says_nothing_and_hangs_is_stopped_and_named_by_its_silence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid_file = tmp_path / "pid"
    error = _failure(
        tmp_path,
        monkeypatch,
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)\n",
    )
    assert "no SSH answer within 2 s" in str(error)
    pid = int(pid_file.read_text())
    for _ in range(50):  # stopped, not left running behind the run
        try:
            Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            break
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"the ProxyCommand {pid} still runs")


@pytest.mark.parametrize(
    "command",
    [
        "aws-not-installed ssm start-session --target %h",  # not on the PATH: Popen fails
        "sh -c 'aws-not-installed ssm start-session --target %h'",  # the shell says 127
    ],
)
def test_a_proxy_command_that_cannot_be_run_is_not_a_host_still_booting(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not installed is not "unreachable": a run that started the instance would otherwise
    wait its whole start wait for a host that can never answer this way."""
    monkeypatch.setenv(SSH_CONFIG_ENV, str(_config(tmp_path, command)))
    with pytest.raises(CollectionError) as caught:
        Connections(Hosts(timeout_s=2)).client("i-0abc")
    message = str(caught.value)
    assert caught.value.kind == "not-configured", message
    assert "the ProxyCommand cannot be run" in message and "aws-not-installed" in message
    assert "fix ProxyCommand in the SSH config" in message and "\n" not in message
