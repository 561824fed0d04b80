"""One run of the runbook: the profile, the inventory, the mode, and every finding made.

Pytest's steps and the CLI both go through ``Run.check``, so verify and perform take the
same path; perform adds one branch (plan, apply, verify again) and nothing else.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from runbook.aws.collected import CollectionError, Deferred, prefetching
from runbook.aws.inventory import Inventory
from runbook.aws.session import POOL_CONNECTIONS, AwsSession, open_session
from runbook.engine import evaluate, finding, not_applicable
from runbook.findings import Finding, Outcome, Status
from runbook.hosts.access import HostAccess
from runbook.profile import Profile, partition_of
from runbook.registry import Check
from runbook.stepfunctions import cache
from runbook.waivers import NONE as NO_WAIVERS
from runbook.waivers import Waivers

Mode = Literal["verify", "perform"]
# Checks prefetching at once. Most of them wait for data another thread is reading (each read
# is made once), so the reads in flight are fewer: at most the distinct reads pending, ~60 in
# a whole run. Measured on the lab at 100 ms a request: 8 threads 2.3 s, 16 1.7 s, 32 1.4 s,
# 64 1.4 s (the longest chain of dependent reads); botocore's pools keep as many connections.
PREFETCH_THREADS = POOL_CONNECTIONS


@dataclass(repr=False)
class Run:
    profile: Profile
    mode: Mode = "verify"
    dry_run: bool = False
    start_database: bool = False
    session: AwsSession | None = None
    inventory: Inventory | None = None
    findings: dict[str, Finding] = field(default_factory=dict)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    account: str | None = None  # the AWS account the run acts in, once the preflight asked
    lookback_asked: bool = False  # the look-back came from the command line, not the profile
    progress: Callable[[str], None] | None = None  # told each step a perform applies
    waivers: Waivers = NO_WAIVERS
    fail_on: str = "low"  # the lowest severity whose fails fail the run (--fail-on)
    blamed: dict[str, Any] | None = None  # --blame: what changed the failing resources
    simulation_cache: Path | None = field(default_factory=cache.default_dir)  # --no-cache: None
    _t0: float = field(default_factory=time.monotonic)
    _performer: Any = None
    _lease: Any = None
    _prefetch: Prefetch | None = None

    def __post_init__(self) -> None:
        t = self.profile.timeouts
        if self.session is None:
            self.session = open_session(
                self.profile.region,
                connect_timeout=t.connect_s,
                read_timeout=t.read_s,
                max_attempts=t.max_attempts,
            )
        if self.inventory is None:
            self.inventory = Inventory(
                self.session,
                hosts=HostAccess(self.profile, self.session, self.start_database),
                simulation_cache=self.simulation_cache,
            )

    def __repr__(self) -> str:
        """Short: allure records each step's arguments by their repr, and the default one (the
        profile, the findings so far) made a verify's allure results 6 MB and cost ~0.2 s."""
        return f"Run({self.profile.name!r}, {self.mode}, account={self.account})"

    def identify(self, arn: str) -> None:
        """The caller's ARN, as the preflight read it: the account the run acts in, which the
        inventory also uses to name what it reads by ARN (a state machine)."""
        parts = arn.split(":")  # arn:aws:sts::<account>:...
        self.account = parts[4] if len(parts) > 4 and parts[4].isdigit() else None
        self.inventory.account = self.account

    def close(self) -> None:
        """Stop a database this run started, close its SSH connections, and give back the
        perform lease it holds; no read is prefetched after it."""
        self.stop_prefetch()
        try:
            if self.inventory.hosts is not None:
                self.inventory.hosts.close()
        finally:
            if self._lease is not None:
                self._lease.release()

    def take_lease(self, identity: str, *, break_lease: bool = False) -> str | None:
        """Perform's lease in the account, before its first write (runbook/actions/lease.py):
        CouldNotCheck names who holds it; with ``break_lease`` the line says whose it was."""
        from runbook.actions.lease import lease_for

        lease = lease_for(self.performer.session, self.profile, identity)
        broken = lease.take(break_lease=break_lease)
        self._lease = lease
        return broken

    def learn_secret(self) -> None:
        """Read the secret first, whichever sections run: its values are then known to the
        redaction before a check meets them elsewhere (a rule target's input, an environment
        variable) and could carry them into a report. The full run reads it anyway (cached);
        a secret that cannot be read is the secrets section's finding, not this one's."""
        with contextlib.suppress(CollectionError):
            self.inventory.secret_shape(self.profile.secret.name)

    def blame(self, findings: list[Finding]) -> None:
        """Ask CloudTrail who last wrote to the failing findings' resources (``--blame``),
        within what is left of ``timeouts.run_s``."""
        from runbook.aws.trail import blame, bounded, permit_lookups
        from runbook.redact import scrub_data

        deadline = self._t0 + self.profile.timeouts.run_s
        session = bounded(self.session, deadline - time.monotonic())
        permit_lookups(session)
        try:
            found = blame(
                session, findings, partition=partition_of(self.profile.region), deadline=deadline
            )
        except KeyboardInterrupt:  # the checks are all made: their report is still written
            found = {"lookups": None, "note": "stopped: interrupted", "checks": {}}
        except Exception as exc:  # a defect: blame is a hint, never the cost of the report
            found = {"lookups": None, "note": f"stopped: {type(exc).__name__}: {exc}"[:200]}
            found["checks"] = {}
        self.blamed = scrub_data(found)

    def prefetch(self, checks: Iterable[Check], stop: threading.Event | None = None) -> Prefetch:
        """Start making the AWS reads of ``checks``, several in flight at once, and return at
        once: judging them in the guide's order (``check``) meanwhile waits only for the reads
        each needs, and the checks' own work overlaps the reads still under way. Each check is
        run once in a pool of threads for the data it collects and its verdict thrown away:
        the reads are the ones the checks make, each made once (threads asking for the same
        data, the checks' own thread included, wait for one call), and a check's dependent
        reads follow one another as they do in order. The secret's read goes first (see
        ``learn_secret``). What must keep the checks' order (the hosts, the egress probe, the
        database's state now) waits for it. Verify only: perform changes what it reads. Once
        ``stop`` is set (a fleet interrupted), or the run is closed, no new read is made."""
        self.stop_prefetch()
        todo = [
            c
            for c in checks
            if not not_applicable(c, self.profile) and self.waivers.skipping(c.id) is None
        ]
        if self.mode != "verify" or self.inventory.session is None or len(todo) < 2:
            self._prefetch = Prefetch([], threading.Event(), None)
            return self._prefetch
        done = threading.Event()
        stops = (done,) if stop is None else (done, stop)
        pool = ThreadPoolExecutor(PREFETCH_THREADS, thread_name_prefix="prefetch")
        futures = [pool.submit(self._learn_for, stops)]
        futures += [pool.submit(self._collect_for, c, stops) for c in todo]
        self._prefetch = Prefetch(futures, done, pool)
        return self._prefetch

    def stop_prefetch(self) -> None:
        """No new prefetching read from now on; those under way finish within their bounds."""
        if self._prefetch is not None:
            self._prefetch.stop()

    def _learn_for(self, stops: tuple[threading.Event, ...]) -> None:
        with prefetching(*stops), contextlib.suppress(Deferred):
            self.learn_secret()

    def _collect_for(self, check: Check, stops: tuple[threading.Event, ...]) -> None:
        with prefetching(*stops), contextlib.suppress(Exception):  # judged for real by check()
            check.fn(self.inventory, self.profile)

    def check(self, check: Check) -> Finding:
        """Evaluate one check; in perform mode fix what fails and evaluate it again.

        Once the run has used ``timeouts.run_s``, the check ends in *error* without calling
        AWS (a check already under way is not cut short: its calls have their own bounds).
        """
        limit = self.profile.timeouts.run_s
        if time.monotonic() - self._t0 >= limit and not not_applicable(check, self.profile):
            found = finding(
                check,
                Outcome(
                    Status.ERROR,
                    f"could not check: run time limit of {limit:g} s reached; raise "
                    "timeouts.run_s in the profile or select fewer sections (-m)",
                    evidence={"cause": "run-time-limit"},
                ),
                self.profile,
            )
        elif (skipping := self.waivers.skipping(check.id)) is not None:
            found = finding(
                check, Outcome(Status.WAIVED, f"not checked: {skipping.says()}"), self.profile
            )
            found = dataclasses.replace(found, waiver=skipping.to_dict())
        else:
            found = evaluate(check, self.inventory, self.profile)
        if found.status == Status.FAIL:
            found = self._waived(check, found)
        if found.status == Status.FAIL:
            found = self._fix(check, found)
        self.findings[check.id] = found
        return found

    def _waived(self, check: Check, found: Finding) -> Finding:
        """A fail a waiver in force accepts: reported as waived, not fixed, not failing the
        run. A waiver past its date accepts nothing, and the fail says so."""
        accepting = self.waivers.accepting(check.id, found.resource)
        if accepting is not None:
            return dataclasses.replace(
                found,
                status=Status.WAIVED,
                summary=f"fails, {accepting.says()}: {found.summary}",
                waiver=accepting.to_dict(),
            )
        lapsed = next(
            (w for w in self.waivers.expired if w.check == check.id and w.covers(found.resource)),
            None,
        )
        if lapsed is None:
            return found
        return dataclasses.replace(
            found,
            summary=f"{found.summary} (its waiver expired on {lapsed.expires.isoformat()})",
            waiver={**lapsed.to_dict(), "expired": True},
        )

    def _fix(self, check: Check, found: Finding) -> Finding:
        """Perform fixes what fails; verify (and a dry run) show what would fix it: perform's
        plan, read from the inventory, never a write."""
        if self.mode == "perform":
            return self.performer.fix(check, found)
        from runbook.actions.executor import fix_steps, plan

        steps = fix_steps(plan(self.inventory, self.profile, check))
        return dataclasses.replace(found, steps=steps)

    @property
    def performer(self) -> Any:
        """The performer (and its writable session) exists only in perform mode."""
        if self._performer is None:
            from runbook.actions.executor import Performer

            self._performer = Performer(
                self.inventory, self.profile, dry_run=self.dry_run, progress=self._progress
            )
        return self._performer

    def _progress(self, line: str) -> None:
        if self.progress is not None:
            self.progress(line)

    def aws_calls(self) -> dict[str, int]:
        """Every call made: the checks', perform's and the lease's."""
        calls: Counter[str] = Counter(self.session.log.calls)
        if self._performer is not None:
            calls.update(self._performer.session.log.calls)
        if self._lease is not None:
            calls.update(self._lease.session.log.calls)
        return dict(sorted(calls.items()))

    def lease_calls(self) -> dict[str, int]:
        """The perform lease's own writes (bookkeeping: they change no part of the deployment)."""
        if self._lease is None:
            return {}
        return dict(sorted(self._lease.session.log.mutating().items()))

    def retries(self) -> dict[str, int]:
        out: Counter[str] = Counter(self.session.log.retries)
        if self._performer is not None:
            out.update(self._performer.session.log.retries)
        return dict(sorted(out.items()))

    def mutating_calls(self) -> dict[str, int]:
        """Writes made: perform's, and a verify run's permitted start/stop of the database."""
        out = self.session.log.mutating()
        if self._performer is not None:
            out.update(self._performer.session.log.mutating())
        return dict(sorted(out.items()))

    @property
    def elapsed_s(self) -> float:
        return round(time.monotonic() - self._t0, 2)


@dataclass
class Prefetch:
    """A run's reads being made ahead by a pool of threads (``Run.prefetch``)."""

    futures: list[Future[None]]
    done: threading.Event
    pool: ThreadPoolExecutor | None

    def wait(self) -> None:
        """Until every prefetched check has collected (tests, and a caller that wants the
        reads made before it judges: ``Run.check`` needs no wait)."""
        for future in self.futures:
            future.result()

    def stop(self) -> None:
        """Ctrl-C, the end of the run: the reads under way finish within their own bounds, no
        new one begins."""
        self.done.set()
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
