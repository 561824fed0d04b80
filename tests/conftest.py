"""Shared fixtures for the project's own tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def own_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The session's runs share a cache of their own ($XDG_CACHE_HOME, inherited by the runs
    the tests start): a definition is simulated once, then read, and the user's is untouched."""
    path = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(path))
        yield path


@pytest.fixture
def closed_port() -> Iterator[str]:
    """A loopback port bound but not listening: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


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
