"""The one vocabulary of the feature files: every ``When`` sentence names a step of the guide,
every ``Then`` sentence a check of it.

Each check declares its sentence (``says``) where it is defined, and each guide step its own
(runbook/guide_steps.py), so the feature files read like the guide and a step never needs its
own code: ``When`` names the step the scenario is part of; ``Then`` finds the check, runs it
through the run (verify or perform), attaches the evidence and asserts.
"""

from __future__ import annotations

import allure
import pytest
from pytest_bdd import given, parsers, then, when

from runbook import guide_steps
from runbook.findings import Status
from runbook.registry import by_sentence
from runbook.report.plugin import evidence_json, name_the_case, plugin
from runbook.report.writers import record
from runbook.run import Run


@pytest.fixture(scope="session")
def runbook_run(pytestconfig: pytest.Config) -> Run:
    run = plugin(pytestconfig).run
    assert run is not None, "the runbook run was not started (no scenarios collected?)"
    return run


@given("the deployment described by the profile", target_fixture="deployment")
def deployment(runbook_run: Run) -> Run:
    return runbook_run


@when(parsers.re(r"(?P<sentence>.+)"))
def guide_step(sentence: str) -> None:
    """The guide's step the scenario checks: what perform does and a person does by hand
    (allure groups the scenarios by it)."""
    allure.dynamic.story(guide_steps.by_sentence(sentence).says)


@then(parsers.re(r"(?P<sentence>.+)"))
def check_holds(sentence: str, deployment: Run, request: pytest.FixtureRequest) -> None:
    check = by_sentence(sentence)
    name_the_case(request.node, check.section, check.id)
    found = deployment.check(check)
    allure.attach(
        evidence_json(found.to_dict()),
        name=f"{check.id}.json",
        attachment_type=allure.attachment_type.JSON,
    )
    if found.status == Status.SKIP:
        pytest.skip(found.summary)
    if found.status == Status.WAIVED:  # JUnit: <skipped message="waived: ...">
        pytest.skip(f"waived: {found.summary}")
    if found.status == Status.ERROR:
        pytest.fail(f"COULD NOT CHECK {check.id}: {found.summary}", pytrace=False)
    if found.status == Status.FAIL:  # JUnit and allure carry the same record as the report
        profile = {"region": deployment.profile.region, "source": deployment.profile.source}
        lines = record(found.to_dict(), check.section, profile)
        pytest.fail(
            f"{check.id} ({found.severity}): {found.summary}\n  " + "\n  ".join(lines),
            pytrace=False,
        )
