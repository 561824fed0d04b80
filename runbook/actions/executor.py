"""Perform: plan the fixes for a failing check, apply them through a writable session, re-check.

The only module that opens a writable session. It never decides what is wrong: the check did.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from runbook.actions.base import FIXERS, Action, Ctx, Manual
from runbook.aws.collected import CollectionError, classify
from runbook.aws.session import open_session
from runbook.engine import evaluate
from runbook.findings import Finding, Status
from runbook.redact import scrub
from runbook.registry import Check

if TYPE_CHECKING:
    from runbook.run import Run


def load_fixers() -> None:
    import runbook.actions as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"runbook.actions.{module.name}")


class Performer:
    def __init__(self, run: Run, *, dry_run: bool = False) -> None:
        load_fixers()
        t = run.profile.timeouts
        self.run = run
        self.dry_run = dry_run
        self.session = open_session(
            run.profile.region,
            writable=True,
            connect_timeout=t.connect_s,
            read_timeout=t.read_s,
            max_attempts=t.max_attempts,
        )

    def fix(self, check: Check, found: Finding) -> Finding:
        fixer = FIXERS.get(check.id)
        if fixer is None:
            return dataclasses.replace(found, actions=("manual: " + check.guide,))
        inv, p = self.run.inventory, self.run.profile
        try:
            steps = fixer(inv, p)
        except Exception as exc:  # a collection that failed, or a defect: plan nothing
            return dataclasses.replace(found, actions=(f"could not plan: {_cause(exc)}",))
        words = tuple(("manual: " if isinstance(s, Manual) else "") + s.says for s in steps)
        self.run.plan_log.extend(f"{check.id}: {w}" for w in words)
        actions = [s for s in steps if isinstance(s, Action)]
        if self.dry_run or not actions:
            prefix = "planned: " if self.dry_run else ""
            return dataclasses.replace(found, actions=tuple(prefix + w for w in words))
        ctx = Ctx(self.session, inv, p)
        for action in actions:
            try:
                action.apply(ctx)
            except Exception as exc:  # AWS refused, data missing, or a defect: stop here
                return dataclasses.replace(
                    found,
                    status=Status.ERROR,
                    summary=f"perform failed: {_cause(exc)}",
                    actions=(*words, f"failed: {action.says}"),
                )
            finally:
                inv.invalidate()
        again = evaluate(check, inv, p)
        return dataclasses.replace(again, actions=words)


def _cause(exc: Exception) -> str:
    """One line: AWS errors classified as collections are, anything else by its type."""
    if isinstance(exc, ClientError | BotoCoreError):
        return scrub(str(classify("aws", exc)))
    if isinstance(exc, CollectionError):
        return scrub(str(exc))
    return f"{type(exc).__name__}: {scrub(str(exc))[:200]}"
