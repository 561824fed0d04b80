"""A full reports folder never changes the verdict: the healthy lab stays exit 0, each report
file is whole or absent (never a truncated summary.json for CI to read), and one line says
which could not be written. The folder is a real, tiny tmpfs filled up, not a mock."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbook.run import Run

from .conftest import runbook_pytest

pytestmark = pytest.mark.lab


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 96 KiB file system: room for the run to start, not for all its reports."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_reports_folder_keeps_the_verdict_and_says_what_was_not_written(
    built_lab: Run, lab_env: dict[str, str], small_disk: Path
) -> None:
    out = small_disk / "reports"
    code, output, _ = runbook_pytest(["-m", "not hosts"], lab_env, out)
    assert code == 0, output[-3000:]
    assert "INTERNALERROR" not in output and "Traceback" not in output
    assert "verdict: healthy" in output
    assert "WARNING: could not write" in output and "No space left on device" in output
    for name in ("summary.json", "inventory.json"):
        path = out / name
        if path.exists():  # whole, or not there at all
            json.loads(path.read_text())
    assert not [p.name for p in out.glob(".*.tmp")]
