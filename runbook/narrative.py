"""The runbook as the feature files tell it: the guide's steps in order, each with its checks.

Every scenario is ``When <a guide step>`` then ``Then <a check>``; the scenarios of a step need
not be next to each other. Read with pytest-bdd's own parser, so verify, perform, guided
execution and the reports follow the very lines pytest runs.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pytest_bdd.parser import Feature, FeatureParser, ScenarioTemplate

from runbook import guide_steps, registry
from runbook.guide_steps import GuideStep

FEATURES = Path(__file__).resolve().parents[1] / "features"


class NarrativeError(ValueError):
    """A scenario that does not read ``When <step>`` then ``Then <check>``."""


@dataclass(frozen=True)
class Step:
    """A guide step as the runbook walks it: the step and its checks' ids, in order."""

    step: GuideStep
    checks: tuple[str, ...]

    @property
    def section(self) -> str:
        return self.step.section


@functools.cache
def narrative(folder: Path = FEATURES) -> tuple[Step, ...]:
    """Every guide step in the guide's order (features by file name, scenarios as written)."""
    order: dict[str, list[str]] = {}
    for path, _, scenario in _scenarios(folder):
        whens = [s.name for s in scenario.steps if s.type == "when"]
        thens = [s.name for s in scenario.steps if s.type == "then"]
        if len(whens) != 1 or len(thens) != 1:
            raise NarrativeError(
                f"{path.name}: {scenario.name!r} must read one When (a guide step) and one "
                f"Then (a check), not {len(whens)} and {len(thens)}"
            )
        step = guide_steps.by_sentence(whens[0])
        check = registry.by_sentence(thens[0])
        if step.section != check.section:
            raise NarrativeError(
                f"{path.name}: step {step.id} and check {check.id} are of different sections"
            )
        order.setdefault(step.id, []).append(check.id)
    return tuple(Step(guide_steps.STEPS[s], tuple(checks)) for s, checks in order.items())


def _scenarios(folder: Path) -> Iterator[tuple[Path, Feature, ScenarioTemplate]]:
    for path in sorted(folder.glob("*.feature")):
        feature = FeatureParser(str(folder), path.name).parse()
        for scenario in feature.scenarios.values():
            yield path, feature, scenario


@functools.cache
def markers(folder: Path = FEATURES) -> dict[str, frozenset[str]]:
    """Each check's markers as pytest gives its scenario (the feature's tags and its own):
    what ``-m`` selects by when the checks run outside pytest (a fleet)."""
    return {
        registry.by_sentence(step.name).id: frozenset(feature.tags | scenario.tags)
        for _, feature, scenario in _scenarios(folder)
        for step in scenario.steps
        if step.type == "then"
    }


@functools.cache
def step_of(check_id: str) -> GuideStep | None:
    """The guide step a check belongs to (None: the check is in no scenario)."""
    for step in narrative():
        if check_id in step.checks:
            return step.step
    return None
