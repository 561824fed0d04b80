"""Every check, with its identity: id, section, the sentence the feature files use, guide step.

Check ids follow ``<resource>_<expected state>`` (Prowler's habit): the id says what it asserts.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runbook.findings import Outcome, Severity
from runbook.sections import SECTION_BY_ID, SECTIONS, Applies, always

CheckFn = Callable[[Any, Any], Outcome]


@dataclass(frozen=True)
class Check:
    id: str
    section: str
    says: str  # the Gherkin sentence, after "Then"/"And"
    guide: str  # the guide's step that makes this true
    applies: Applies
    fn: CheckFn
    order: int
    # How bad a fail is; "critical": the deployment is exposed (e.g. the database open to the
    # internet), which no waiver of a lesser fail should ever hide.
    severity: Severity = "high"


CHECKS: dict[str, Check] = {}


def check(
    *,
    id: str,
    section: str,
    says: str,
    guide: str,
    applies: Applies = always,
    severity: Severity = "high",
) -> Callable[[CheckFn], CheckFn]:
    """Register a pure check ``(inventory, profile) -> Outcome``."""
    if section not in SECTION_BY_ID:
        raise ValueError(f"unknown section {section!r} for check {id}")

    def register(fn: CheckFn) -> CheckFn:
        if id in CHECKS:
            raise ValueError(f"check id {id} registered twice")
        if any(c.says == says for c in CHECKS.values()):
            raise ValueError(f"sentence {says!r} registered twice")
        CHECKS[id] = Check(id, section, says, guide, applies, fn, len(CHECKS), severity)
        return fn

    return register


def load_checks() -> dict[str, Check]:
    """Import every module of the ``checks`` package so that all checks are registered."""
    import checks

    for module in pkgutil.iter_modules(checks.__path__):
        importlib.import_module(f"checks.{module.name}")
    return CHECKS


def by_sentence(sentence: str) -> Check:
    load_checks()
    for c in CHECKS.values():
        if c.says == sentence:
            return c
    raise LookupError(f"no check says {sentence!r}: see `notifier-runbook checks` for the list")


def checks_in_guide_order() -> list[Check]:
    load_checks()
    rank = {s.id: i for i, s in enumerate(SECTIONS)}
    return sorted(CHECKS.values(), key=lambda c: (rank[c.section], c.order))
