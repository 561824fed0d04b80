"""The database's stop is sent whole: INT and TERM wait until it is done, then are delivered,
whichever thread of the process the kernel gives them to (a run prefetches in threads)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from runbook.hosts.access import signals_held


class Stopped(Exception):
    """What the test's TERM handler raises (KeyboardInterrupt, in a run)."""


@pytest.fixture
def term_raises() -> Iterator[None]:
    def stop(signum: int, _frame: object) -> None:
        raise Stopped(signum)

    before = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


@pytest.fixture
def another_thread() -> Iterator[None]:
    """A thread that takes signals, as a run's prefetching threads do: the kernel hands it a
    signal the main thread's mask blocks."""
    done = threading.Event()
    thread = threading.Thread(target=done.wait, daemon=True)
    thread.start()
    yield
    done.set()
    thread.join()


@pytest.mark.usefixtures("term_raises", "another_thread")
def test_a_signal_during_the_block_is_delivered_after_it() -> None:
    finished = []
    with pytest.raises(Stopped), signals_held():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.5)  # a handler run inside the block would raise here
        finished.append(True)
    assert finished == [True]


@pytest.mark.usefixtures("term_raises")
def test_without_a_signal_nothing_is_raised_and_the_handlers_are_back() -> None:
    handler = signal.getsignal(signal.SIGTERM)
    with signals_held():
        assert signal.getsignal(signal.SIGTERM) is not handler  # held
    assert signal.getsignal(signal.SIGTERM) is handler


def test_off_the_main_thread_nothing_is_held() -> None:
    """A fleet's deployment closes its run in a thread of its own: signal.signal would fail
    there, and the fleet's handlers raise nothing to hold."""
    got: list[BaseException] = []

    def close() -> None:
        try:
            with signals_held():
                pass
        except BaseException as exc:
            got.append(exc)

    thread = threading.Thread(target=close)
    thread.start()
    thread.join()
    assert got == []
