"""The checker's IAM policy in the repository is the one the collections' declarations make,
and every declared action is a real read of its service."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import botocore.session
import pytest

from runbook.aws.collected import IAM_PREFIX
from runbook.aws.policy import DECLARED_READS, checker_policy, policy_json
from runbook.aws.session import is_read
from runbook.hosts.access import START_STOP
from runbook.profile import load_profile

ROOT = Path(__file__).resolve().parents[2]
POLICY_FILE = ROOT / "policies" / "notifier-checker.json"
SDK_NAME = {prefix: sdk for sdk, prefix in IAM_PREFIX.items()}


def test_committed_policy_is_the_generated_one() -> None:
    generated = policy_json(load_profile(ROOT / "profiles" / "notifier.toml"))
    assert POLICY_FILE.read_text() == generated, (
        "policies/notifier-checker.json is stale: regenerate it with `notifier-runbook "
        "policy --profile profiles/notifier.toml > policies/notifier-checker.json`"
    )


def test_the_lab_runs_under_the_same_policy() -> None:
    """The lab proves the committed file itself (tests/integration/test_iam_enforcement.py)."""
    lab = checker_policy(load_profile(ROOT / "profiles" / "lab.toml"))
    assert lab == json.loads(POLICY_FILE.read_text())


def test_the_declarations_are_loaded_with_the_policy() -> None:
    """Collections declare their reads on import: the policy module must import them all
    (once it did not, and the policy and the parametrised test below silently shrank)."""
    services = {a.split(":")[0] for a in DECLARED_READS}
    assert services == {
        "cloudwatch",
        "ec2",
        "ecr",
        "events",
        "iam",
        "lambda",
        "logs",
        "rds",
        "secretsmanager",
        "ssm",
        "states",
    }


@pytest.mark.parametrize("action", sorted(DECLARED_READS | set(START_STOP)))
def test_every_action_is_an_operation_of_its_service(action: str) -> None:
    prefix, operation = action.split(":")
    service = SDK_NAME.get(prefix, prefix)
    model = botocore.session.get_session().get_service_model(service)
    assert operation in model.operation_names
    assert is_read(service, operation) == (action not in START_STOP)


def test_secret_values_only_for_the_profiles_secret() -> None:
    statements = checker_policy(load_profile(ROOT / "profiles" / "notifier.toml"))["Statement"]
    holding = [s for s in statements if "secretsmanager:GetSecretValue" in s["Action"]]
    assert [s["Resource"] for s in holding] == [
        "arn:aws:secretsmanager:*:*:secret:WikidotNotifier/auth-??????"
    ]
    assert all(not a.startswith(("ec2:Start", "ec2:Stop")) for a in statements[0]["Action"])


def test_aurora_variant_needs_no_instance_start() -> None:
    profile = load_profile(ROOT / "profiles" / "example-aurora-serverless-v2.toml")
    actions = {a for s in checker_policy(profile)["Statement"] for a in s["Action"]}
    assert actions.isdisjoint(START_STOP)


def test_the_cli_prints_it() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "runbook.cli", "policy", "--profile", "profiles/notifier.toml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert printed == POLICY_FILE.read_text()


PROFILE = "profiles/notifier.toml"


def test_blame_adds_cloudtrail_lookups_only_when_asked() -> None:
    """``--blame``'s one read beyond the collections' own is in the policy only for runs that
    use it (LookupEvents has no resource-level permission: Resource "*")."""
    profile = load_profile(ROOT / PROFILE)
    plain = checker_policy(profile)
    with_blame = checker_policy(profile, blame=True)
    added = [s for s in with_blame["Statement"] if s not in plain["Statement"]]
    assert [(s["Action"], s["Resource"]) for s in added] == [(["cloudtrail:LookupEvents"], "*")]
    assert "cloudtrail:LookupEvents" not in DECLARED_READS  # not in every run's allow-list
    printed = subprocess.run(
        [sys.executable, "-m", "runbook.cli", "policy", "--blame", "--profile", PROFILE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(printed) == with_blame
