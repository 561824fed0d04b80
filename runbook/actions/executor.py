"""Perform: plan the fixes for a failing check, apply them through a writable session, re-check.

Planning reads the inventory only, so verify shows the same plan a perform would follow (as the
fix of each failure); applying is the only place a writable session is opened. It never
decides what is wrong: the check did.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from runbook.actions.base import FIXERS, Action, Ctx, Manual
from runbook.aws.collected import CollectionError, classify
from runbook.aws.session import AwsSession, open_session
from runbook.engine import evaluate
from runbook.findings import Finding, FixStep, Status
from runbook.redact import scrub
from runbook.registry import Check

if TYPE_CHECKING:
    from runbook.aws.inventory import Inventory
    from runbook.profile import Profile

Progress = Callable[[str], None]


def load_fixers() -> None:
    import runbook.actions as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"runbook.actions.{module.name}")


def plan(inv: Inventory, p: Profile, check: Check) -> list[Action | Manual]:
    """What fixes the check's failure, from the inventory as it is (no writes): perform's
    actions and the manual steps; the guide's step when perform knows none."""
    load_fixers()
    fixer = FIXERS.get(check.id)
    if fixer is None:
        return [Manual(check.guide)]
    try:
        return fixer(inv, p)
    except Exception as exc:  # a collection that failed, or a defect: plan nothing
        return [Manual(f"could not plan a fix ({_cause(exc)}): {check.guide}")]


def fix_steps(steps: list[Action | Manual]) -> tuple[FixStep, ...]:
    return tuple(
        FixStep(s.says, s.calls, "planned")
        if isinstance(s, Action)
        else FixStep(s.says, (), "manual")
        for s in steps
    )


class Performer:
    """Applies plans through its own writable session; told nothing of the run around it but
    the inventory it reads, the profile, and where to say each step as it is applied."""

    def __init__(
        self,
        inv: Inventory,
        p: Profile,
        *,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> None:
        load_fixers()
        t = p.timeouts
        self.inv, self.profile, self.progress = inv, p, progress
        self.dry_run = dry_run
        self.session: AwsSession = open_session(
            p.region,
            writable=True,
            connect_timeout=t.connect_s,
            read_timeout=t.read_s,
            max_attempts=t.max_attempts,
        )
        self.numbered = 0  # steps applied (or planned) so far in this run, for the progress

    def fix(self, check: Check, found: Finding) -> Finding:
        """Apply the plan's actions in order, each told to ``progress`` as it goes; stop at the
        first that fails. In a dry run nothing is applied."""
        steps = plan(self.inv, self.profile, check)
        planned = fix_steps(steps)
        if self.dry_run or not any(isinstance(s, Action) for s in steps):
            return dataclasses.replace(found, steps=planned)
        inv, p = self.inv, self.profile
        ctx = Ctx(self.session, inv, p)
        done: list[FixStep] = []
        for step, record in zip(steps, planned, strict=True):
            if not isinstance(step, Action):
                done.append(record)
                continue
            self.numbered += 1
            self._tell(f"{self.numbered}. {check.section}/{check.id}: {step.says}")
            try:
                step.apply(ctx)
            except Exception as exc:  # AWS refused, data missing, or a defect: stop here
                self._tell(f"   failed: {_cause(exc)}")
                done.append(dataclasses.replace(record, state="failed"))
                rest = planned[len(done) :]
                return dataclasses.replace(
                    found,
                    status=Status.ERROR,
                    summary=f"perform failed: {_cause(exc)}",
                    steps=(*done, *rest),
                )
            finally:
                inv.invalidate()
            self._tell("   done")
            done.append(dataclasses.replace(record, state="applied"))
        again = evaluate(check, inv, p)
        return dataclasses.replace(again, steps=tuple(done))

    def _tell(self, line: str) -> None:
        if self.progress is not None:
            self.progress(line)


def _cause(exc: Exception) -> str:
    """One line: AWS errors classified as collections are, anything else by its type."""
    if isinstance(exc, ClientError | BotoCoreError):
        return scrub(str(classify("aws", exc)))
    if isinstance(exc, CollectionError):
        return scrub(str(exc))
    return f"{type(exc).__name__}: {scrub(str(exc))[:200]}"
