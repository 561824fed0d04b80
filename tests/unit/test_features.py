"""The feature files and the check registry describe the same runbook, in the guide's order."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from runbook.registry import checks_in_guide_order
from runbook.sections import SECTIONS

FEATURES = Path(__file__).resolve().parents[2] / "features"


def _features() -> list[tuple[str, list[str]]]:
    out = []
    for path in sorted(FEATURES.glob("*.feature")):
        text = path.read_text()
        tag = re.search(r"^@(\w+)", text, re.M).group(1)
        sentences = re.findall(r"^\s+(?:Then|And) (.+)$", text, re.M)
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
