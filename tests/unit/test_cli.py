"""The command line as a person meets it: its help lists every option of a run, a typo is one
line, a pipe closed early is no traceback, and it works from outside the checkout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runbook.options import RUN_OPTIONS

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).with_name("notifier-runbook")


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_help_lists_every_option_of_the_run() -> None:
    verify, perform = _cli("verify", "--help").stdout, _cli("perform", "--help").stdout
    for option in RUN_OPTIONS:
        assert option.flag in perform
        assert (option.flag in verify) is not option.perform_only, option.flag
    assert "-m SECTION" in verify and "after --" in verify


def test_options_reach_the_run_and_pytest_options_go_after_the_double_dash(
    tmp_path: Path,
) -> None:
    """--collect-only loads the profile and touches no AWS: the options are seen by the run."""
    got = _cli(
        "verify",
        "--profile",
        "profiles/lab.toml",
        "-m",
        "vpc",
        "--reports-dir",
        str(tmp_path / "r"),
        "--",
        "--collect-only",
    )
    assert got.returncode == 0, got.stdout + got.stderr
    collected = [line for line in got.stdout.splitlines() if "::" in line]
    assert len(collected) == 5 and "features/test_guide.py::test_the_vpc_exists" in collected


def test_a_pipe_closed_early_ends_quietly() -> None:
    proc = subprocess.Popen(
        [str(CLI), "checks"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # what `| head -1` does
    assert proc.wait(timeout=60) == 0
    assert proc.stderr.read() == b""


@pytest.mark.parametrize(
    "command", [("checks",), ("keys",), ("policy", "--profile", "profiles/lab.toml")]
)
def test_output_to_a_full_disk_is_one_line_and_a_non_zero_exit(command: tuple[str, ...]) -> None:
    """`> /dev/full` (every write fails with ENOSPC): one line on stderr, exit 2, no traceback,
    including for output small enough to wait in the buffer until the exit."""
    with open("/dev/full", "w") as full:
        got = subprocess.run(
            [str(CLI), *command], cwd=ROOT, stdout=full, stderr=subprocess.PIPE, text=True
        )
    assert got.returncode == 2
    assert got.stderr == "could not write standard output: No space left on device\n"


def test_policy_finds_its_default_profile_from_anywhere(tmp_path: Path) -> None:
    got = _cli("policy", cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    assert '"Version": "2012-10-17"' in got.stdout
