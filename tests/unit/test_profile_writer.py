"""What discover writes loads as a profile: the found names with where they were found, the
followed names as comments only, the base's own keys kept, what could not be inferred listed."""

from __future__ import annotations

import tomllib
from pathlib import Path

from runbook.discover import Discovery
from runbook.profile import load_profile
from runbook.profile_writer import profile_text

ROOT = Path(__file__).resolve().parents[2]


def test_a_discovery_is_written_as_a_profile_that_loads(tmp_path: Path) -> None:
    base = load_profile(ROOT / "profiles" / "notifier-current.toml")
    found = Discovery("function WikidotNotifier")
    found.found("vpc.name", "notifier-vpc", "vpc-0a1b, the function's VPC")
    found.found(
        "vpc.subnets",
        [{"name": 'a "quoted" name', "cidr": "10.0.0.0/24"}, {"name": "b", "cidr": "10.0.1.0/24"}],
        "the function's subnets",
    )
    found.found("step_functions.state_machine", "NotifierFlow", "the state machine the rule starts")
    found.missing("iam.user", "WikidotNotifierAdministration has 2 users: name the administrator")
    text = profile_text(base, found, ["Written by a test."])
    path = tmp_path / "found.toml"
    path.write_text(text)
    profile = load_profile(path)
    assert profile.vpc.name == "notifier-vpc"
    assert [s.name for s in profile.vpc.subnets] == ['a "quoted" name', "b"]
    assert profile.function.runtime == "python3.13"  # the base's value, kept
    assert profile.function.required_actions == base.function.required_actions
    assert not profile.given("step_functions.state_machine")  # followed: a comment only
    assert '# state_machine = "NotifierFlow"  # found: the state machine the rule starts' in text
    assert 'name = "notifier-vpc"  # found: vpc-0a1b, the function\'s VPC' in text
    assert "# - iam.user: WikidotNotifierAdministration has 2 users" in text
    assert tomllib.loads(text)["lambda"]["runtime"] == "python3.13"
