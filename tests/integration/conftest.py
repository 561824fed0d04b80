"""One lab for the whole test session: a moto server built by the project's perform mode."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbook.lab import build, control, hosts
from runbook.profile import Profile, load_profile
from runbook.run import Run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def lab_profile() -> Profile:
    return load_profile(ROOT / "profiles" / "lab.toml")


@pytest.fixture(scope="session")
def lab_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lab")


@pytest.fixture(scope="session")
def lab_url(lab_state: Path) -> Iterator[str]:
    state = lab_state
    saved = dict(os.environ)
    url = control.start(state)
    try:
        os.environ.update(hosts.start(state, load_profile(ROOT / "profiles" / "lab.toml")))
        yield url
    finally:
        hosts.stop(state)
        control.stop(state)
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def built_lab(lab_url: str, lab_profile: Profile) -> Run:
    """The lab as ``make demo`` builds it; tests that break it must leave it healthy again."""
    return build.build(lab_profile, lab_url)


@pytest.fixture
def lab_env(built_lab: Run, lab_url: str, lab_state: Path) -> dict[str, str]:
    return {**os.environ, **build.lab_environment(lab_url), **hosts.environment(lab_state)}


verify = build.verify


def outside_policy(run: Run) -> set[str]:
    """IAM actions the run's AWS calls needed that the checker's generated policy lacks."""
    from runbook.aws.collected import iam_action
    from runbook.aws.policy import checker_policy

    allowed = {a for s in checker_policy(run.profile)["Statement"] for a in s["Action"]}
    allowed.add("sts:GetCallerIdentity")  # needs no permission
    return {iam_action(*call.split(":")) for call in run.aws_calls()} - allowed
