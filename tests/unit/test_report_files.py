"""A report file is replaced whole or not at all: a full disk mid-write leaves the previous
summary.json readable for CI, and no temporary file behind."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from runbook.report.files import write_atomic
from runbook.report.writers import write_json


def test_a_write_that_fails_midway_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "summary.json"
    write_json(path, {"verdict": "healthy"})

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        write_json(path, {"verdict": "unhealthy", "sections": ["x" * 100_000]})
    assert json.loads(path.read_text()) == {"verdict": "healthy"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_a_write_replaces_the_file_and_makes_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "summary.md"
    write_atomic(path, "first\n")
    write_atomic(path, "second\n")
    assert path.read_text() == "second\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["summary.md"]
