"""The feature files and the check registry describe the same runbook, in the guide's order."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from runbook.guide_steps import STEPS
from runbook.narrative import NarrativeError, narrative, step_of
from runbook.registry import checks_in_guide_order
from runbook.sections import SECTIONS

FEATURES = Path(__file__).resolve().parents[2] / "features"


def _features() -> list[tuple[str, list[str]]]:
    out = []
    for path in sorted(FEATURES.glob("*.feature")):
        text = path.read_text()
        tag = re.search(r"^@(\w+)", text, re.M).group(1)
        sentences = re.findall(r"^\s+Then (.+)$", text, re.M)
        out.append((tag, sentences))
    return out


def test_one_feature_per_section_in_guide_order() -> None:
    assert [tag for tag, _ in _features()] == [s.id for s in SECTIONS]


def test_every_check_is_one_scenario_of_its_sections_feature() -> None:
    by_sentence = {c.says: c for c in checks_in_guide_order()}
    used = Counter()
    for tag, sentences in _features():
        for sentence in sentences:
            assert sentence in by_sentence, f"no check says {sentence!r} ({tag})"
            assert by_sentence[sentence].section == tag
            used[sentence] += 1
    assert set(used) == set(by_sentence), "checks without a scenario"
    assert max(used.values()) == 1


def test_each_scenario_judges_one_check() -> None:
    """One scenario, one check: the JUnit test case and the allure result are the check's."""
    for path in sorted(FEATURES.glob("*.feature")):
        for scenario in path.read_text().split("Scenario:")[1:]:
            checks = re.findall(r"^\s+(?:Then|And) ", scenario, re.M)
            assert len(checks) == 1, f"{path.name}: {scenario.splitlines()[0].strip()}"


def test_each_scenario_narrates_one_guide_step_of_its_section() -> None:
    """When: the guide's step (what perform and a person do); Then: its check. Every step is
    told, every check is under one, and the walk is in the guide's section order."""
    walk = narrative()
    assert {s.step.id for s in walk} == set(STEPS)
    checks = [c for s in walk for c in s.checks]
    assert sorted(checks) == sorted(c.id for c in checks_in_guide_order())
    rank = {s.id: n for n, s in enumerate(SECTIONS)}
    sections = [rank[s.section] for s in walk]
    assert sections == sorted(sections)
    assert step_of("rule_fires_hourly_and_is_enabled") == STEPS["trigger.create_rule"]


@pytest.mark.parametrize(
    ("scenario", "error"),
    [
        ("    Then the state machine is ACTIVE\n", r"one When \(a guide step\) and one Then"),
        (
            "    When the function is created\n    Then the state machine is ACTIVE\n",
            "different sections",
        ),
        ("    When the moon is full\n    Then the state machine is ACTIVE\n", "no guide step"),
    ],
)
def test_a_scenario_that_does_not_narrate_a_step_is_refused(
    tmp_path: Path, scenario: str, error: str
) -> None:
    (tmp_path / "x.feature").write_text(f"Feature: x\n  Scenario: y\n{scenario}")
    with pytest.raises((NarrativeError, LookupError), match=error):
        narrative(tmp_path)


def test_check_ids_are_unique_snake_case() -> None:
    ids = [c.id for c in checks_in_guide_order()]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z0-9_]+", i) for i in ids)


# The nightly run: what catches drift from one read per service, never the checks that need the
# database started (SSH, MySQL) nor the set-up-once and deploy-time sections.
SMOKE = {
    "costs",
    "security_groups",
    "secrets",
    "lambda",
    "step_functions",
    "trigger",
    "egress",
    "lambda_permissions",
    "lambda_vpc",
    "operations",
}


def test_smoke_is_operations_and_the_fast_drift_sections_without_host_checks() -> None:
    smoke, hosts_in_smoke = set(), []
    for path in sorted(FEATURES.glob("*.feature")):
        text = path.read_text()
        tags = text.splitlines()[0].split()
        if "@smoke" in tags:
            smoke.add(tags[0][1:])
            hosts_in_smoke += re.findall(r"^\s+@hosts", text, re.M)
    assert smoke == SMOKE
    assert hosts_in_smoke == []
