"""Names the guide never gives are found through AWS's relationships (the rule's target, the
function's image), so a correct deployment with other names passes; a name the profile does set
is an assertion whose failure names the key to change."""

from __future__ import annotations

import json
from typing import Any

from checks import lookup as L
from runbook.aws.inventory import Inventory
from runbook.findings import Status
from runbook.profile import Profile

from .test_checks_recorded import BASELINE, PROFILE, recorded, verdicts

MACHINE = "WikidotNotifierDatabaseStartStop"


def _renamed(snap: dict[str, Any], pairs: list[tuple[str, str]]) -> dict[str, Any]:
    text = json.dumps(snap)
    for old, new in pairs:
        text = text.replace(old, new)
    return json.loads(text)


def machine_renamed() -> dict[str, Any]:
    return _renamed(recorded(), [(MACHINE, "NotifierFlow-7f3a")])


def repository_renamed() -> dict[str, Any]:
    return _renamed(
        recorded(),
        [
            ("amazonaws.com/notifier", "amazonaws.com/wikidot_notifier"),
            ("repository/notifier", "repository/wikidot_notifier"),
            ('"repositoryName": "notifier"', '"repositoryName": "wikidot_notifier"'),
            ('(\\"notifier\\"', '(\\"wikidot_notifier\\"'),
        ],
    )


def _with(profile: Profile, section: str, **values: Any) -> Profile:
    data = profile.model_dump(by_alias=True, exclude_unset=True)
    data.setdefault(section, {}).update(values)
    return Profile.model_validate(data)


def test_the_state_machine_is_the_rules_target_whatever_its_name() -> None:
    snap = machine_renamed()
    assert f'state_machine("{MACHINE}")' not in snap
    assert L.state_machine_name(Inventory.from_snapshot(snap), PROFILE) == "NotifierFlow-7f3a"
    assert verdicts(snap) == BASELINE  # every verdict as on the guide's names


def test_a_state_machine_named_in_the_profile_is_an_assertion() -> None:
    profile = _with(PROFILE, "step_functions", state_machine=MACHINE)
    inv = Inventory.from_snapshot(machine_renamed())
    changed = {c: s for c, s in verdicts(machine_renamed(), profile).items() if s != BASELINE[c]}
    assert changed == {"state_machine_active": Status.FAIL}
    from checks.schedule import machine_active

    outcome = machine_active(inv, profile)
    assert outcome.summary == (
        f"found NotifierFlow-7f3a (the state machine the rule starts) where the profile says "
        f'{MACHINE}: set step_functions.state_machine = "NotifierFlow-7f3a" or rename the resource'
    )


def test_the_repository_is_the_one_of_the_functions_image() -> None:
    snap = repository_renamed()
    assert 'repository("wikidot_notifier")' in snap and 'repository("notifier")' not in snap
    assert L.image_source(Inventory.from_snapshot(snap), PROFILE) == ("wikidot_notifier", "latest")
    assert verdicts(snap) == BASELINE


def test_a_repository_named_in_the_profile_is_an_assertion() -> None:
    profile = _with(PROFILE, "redeployment", ecr_repository="notifier")
    changed = {c: s for c, s in verdicts(repository_renamed(), profile).items() if s != BASELINE[c]}
    assert set(changed) == {
        "ecr_repository_private_and_holds_tag",
        "administration_group_may_push_the_image",
        "image_behind_tag_is_one_manifest_lambda_runs",
        "lifecycle_policy_keeps_the_running_image",
        "function_runs_image_behind_tag",
    }
    from checks.functions import ecr_tag

    outcome = ecr_tag(Inventory.from_snapshot(repository_renamed()), profile)
    assert "set redeployment.ecr_repository" in outcome.summary


def test_the_groups_own_policy_is_the_ecr_policy_whatever_its_name() -> None:
    snap = recorded()
    group = snap['group("WikidotNotifierAdministration")']
    assert "WikidotNotifierECRAccess" in json.dumps(group)
    for attached in group["AttachedPolicies"]:
        if attached["PolicyName"] == "WikidotNotifierECRAccess":
            attached["PolicyName"] = "notifier-ecr-push"
            attached["PolicyArn"] = attached["PolicyArn"].replace(
                "WikidotNotifierECRAccess", "notifier-ecr-push"
            )
    assert verdicts(snap) == BASELINE
    named = _with(PROFILE, "iam", ecr_policy="WikidotNotifierECRAccess")
    changed = {c: s for c, s in verdicts(snap, named).items() if s != BASELINE[c]}
    assert changed == {"iam_group_has_exactly_guide_policies": Status.FAIL}
