"""Prefetching: the checks' reads made at once by threads, each once, what must keep the
checks' order left to it, and nothing but memory read when the checks are then judged."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from concurrent.futures import CancelledError
from pathlib import Path
from typing import Any

import pytest

from runbook.aws.collected import Deferred, ahead, collected, prefetching
from runbook.aws.session import open_session
from runbook.findings import Outcome, Status
from runbook.profile import load_profile
from runbook.registry import Check
from runbook.run import Run

ROOT = Path(__file__).resolve().parents[2]


class Shelf:
    """An inventory of three collections, counting the calls each makes."""

    def __init__(self, meeting: threading.Barrier | None = None) -> None:
        self.session = object()  # collections are made, not read from a snapshot
        self._cache: dict[str, Any] = {}
        self.calls: Counter[str] = Counter()
        self.meeting = meeting
        self.lock = threading.Lock()
        self.hosts = None  # none to close

    def _count(self, name: str) -> None:
        with self.lock:
            self.calls[name] += 1

    @collected("ec2")
    def vpcs(self) -> str:
        self._count("vpcs")
        if self.meeting is not None:
            self.meeting.wait()  # both prefetching threads must be here at once
        return "vpcs"

    @collected("iam")
    def roles(self) -> str:
        self._count("roles")
        if self.meeting is not None:
            self.meeting.wait()
        return "roles"

    @collected("secretsmanager")
    def secret_shape(self, name: str) -> str:
        self._count("secret")  # Run.learn_secret: read first
        return name

    @collected("ssh")
    def host(self) -> str:
        self._count("host")
        return "host"


def check(name: str, reads: str) -> Check:
    def judge(inv: Any, _profile: Any) -> Outcome:
        return Outcome(Status.PASS, getattr(inv, reads)())

    return Check(
        id=name,
        section="vpc",
        says=name,
        guide="",
        applies=lambda _p: None,
        fn=judge,
        severity="low",
        risk="",
    )


def run_over(shelf: Shelf, mode: str = "verify") -> Run:
    profile = load_profile(ROOT / "profiles" / "lab.toml")
    return Run(profile, mode=mode, session=open_session(profile.region), inventory=shelf)  # type: ignore[arg-type]


def test_the_reads_are_made_at_once_then_judged_from_memory() -> None:
    shelf = Shelf(threading.Barrier(2, timeout=20))  # made one after the other, it breaks
    run = run_over(shelf)
    checks = [check("a", "vpcs"), check("b", "roles")]
    run.prefetch(checks).wait()
    assert shelf._cache == {'secret_shape("WikidotNotifier/auth")': "WikidotNotifier/auth"} | {
        "vpcs()": "vpcs",
        "roles()": "roles",
    }
    for c in checks:
        assert run.check(c).status == Status.PASS
    assert shelf.calls == Counter(secret=1, vpcs=1, roles=1)


def test_checks_judged_meanwhile_wait_only_for_the_reads_they_need() -> None:
    shelf = Shelf()
    slow = threading.Event()
    original = Shelf.vpcs.__wrapped__  # type: ignore[attr-defined]
    reading = threading.Event()

    def slow_vpcs(self: Shelf) -> str:
        reading.set()
        slow.wait(20)
        return original(self)

    shelf.vpcs = collected("ec2")(slow_vpcs).__get__(shelf)  # type: ignore[method-assign]
    run = run_over(shelf)
    prefetch = run.prefetch([check("a", "vpcs"), check("b", "roles")])  # returns at once
    assert reading.wait(20)  # the prefetch is reading the VPCs, and holds them
    assert run.check(check("b", "roles")).status == Status.PASS  # judged meanwhile
    waiting = threading.Thread(target=run.check, args=(check("a", "vpcs"),))
    waiting.start()  # asks for the VPCs under way: waits for that one call
    waiting.join(0.2)
    assert waiting.is_alive()
    slow.set()
    waiting.join(20)
    prefetch.wait()
    assert run.findings["a"].status == Status.PASS
    assert shelf.calls == Counter(secret=1, vpcs=1, roles=1)  # each read once


def test_reads_ahead_begin_at_once_while_prefetching() -> None:
    shelf = Shelf(threading.Barrier(2, timeout=20))  # made one after the other, it breaks
    with prefetching():
        ahead(shelf.roles, shelf.host)  # the host keeps the checks' order: not made ahead
        assert shelf.vpcs() == "vpcs"  # meets the roles' read at the barrier
    assert shelf.roles() == "roles"  # the check's own ask: memory, or the read under way
    for thread in threading.enumerate():
        if thread.name == "prefetch-ahead":
            thread.join(20)
    assert shelf.calls == Counter(vpcs=1, roles=1)


def test_reads_ahead_are_nothing_when_judged() -> None:
    shelf = Shelf()
    ahead(shelf.roles)
    assert shelf.calls == Counter()


def test_threads_asking_for_the_same_data_wait_for_one_call() -> None:
    shelf = Shelf()
    start = threading.Barrier(8, timeout=20)

    def ask() -> None:
        start.wait()
        assert shelf.vpcs() == "vpcs"

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert shelf.calls["vpcs"] == 1


def test_what_keeps_the_checks_order_is_left_to_it() -> None:
    shelf = Shelf()
    with prefetching(), pytest.raises(Deferred):
        shelf.host()
    assert shelf.calls["host"] == 0 and "host()" not in shelf._cache  # not remembered
    run = run_over(shelf)
    run.prefetch([check("a", "vpcs"), check("h", "host")]).wait()
    assert shelf.calls == Counter(secret=1, vpcs=1)
    assert run.check(check("h", "host")).status == Status.PASS  # made in its turn
    assert shelf.calls == Counter(secret=1, vpcs=1, host=1)


def test_perform_reads_in_its_own_order() -> None:
    shelf = Shelf()
    run_over(shelf, mode="perform").prefetch([check("a", "vpcs"), check("b", "roles")]).wait()
    assert shelf.calls == Counter()


def test_once_stopped_no_new_read_is_made_while_prefetching() -> None:
    shelf = Shelf()
    stop = threading.Event()
    with prefetching(stop):
        assert shelf.vpcs() == "vpcs"  # made before the stop
        stop.set()  # Ctrl-C in the run's thread
        assert shelf.vpcs() == "vpcs"  # what is known is still answered
        with pytest.raises(Deferred):
            shelf.roles()
    assert shelf.calls == Counter(vpcs=1)
    assert shelf.roles() == "roles"  # in the checks' own turn it is made


def test_a_closed_run_stops_its_prefetch_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C, TERM or the checks' end: the run is closed, and its prefetching threads make
    no read after the ones under way."""
    shelf = Shelf()
    started = threading.Event()
    release = threading.Event()
    original = Shelf.vpcs.__wrapped__  # type: ignore[attr-defined]

    def slow_vpcs(self: Shelf) -> str:
        started.set()
        release.wait(20)
        return original(self)

    monkeypatch.setattr(Shelf, "vpcs", collected("ec2")(slow_vpcs))
    run = run_over(shelf)

    def vpcs_then_roles(inv: Any, _profile: Any) -> Outcome:
        return Outcome(Status.PASS, inv.vpcs() + inv.roles())

    both = check("ab", "vpcs")
    both = Check(**{**both.__dict__, "fn": vpcs_then_roles})
    prefetch = run.prefetch([both, check("a", "vpcs")])
    assert started.wait(20)  # the first check is reading: Ctrl-C now
    run.close()
    release.set()  # the read under way finishes; no other starts
    with contextlib.suppress(CancelledError):
        prefetch.wait()
    for thread in threading.enumerate():
        if thread.name.startswith("prefetch"):
            thread.join(20)
    assert shelf.calls == Counter(secret=1, vpcs=1)  # roles never began
