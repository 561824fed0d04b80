"""Shared fixtures for the project's own tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server of the test module's own, on a free port (not the shared lab)."""
    from runbook.lab import control

    state = tmp_path_factory.mktemp("moto")
    try:
        yield control.start(state)
    finally:
        control.stop(state)
