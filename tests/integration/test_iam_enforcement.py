"""Verify as a real IAM principal, with the lab's moto enforcing IAM (``/moto-api/reset-auth``).

The checker's generated policy is enough (no denial, same verdicts, host checks included),
and a principal missing some reads gets *could not check* naming the permission exactly where
those reads were needed: every other check keeps its verdict.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest

from runbook.findings import Status
from runbook.hosts.access import START_STOP
from runbook.lab.host_faults import ACCESS, DB_HOST
from runbook.profile import Profile
from runbook.run import Run

from .conftest import ROOT, outside_policy, verify

pytestmark = pytest.mark.lab

POLICY_FILE = ROOT / "policies" / "notifier-checker.json"

# Reads taken away from the checker, and the checks that need each (from checks/*.py).
DENIED = {
    "ec2:DescribeVolumes": {
        "database_root_volume_is_gp3_of_profile_size",
        "monthly_cost_estimate_within_budget",
    },
    "secretsmanager:GetSecretValue": {
        "secret_holds_exactly_the_five_keys",
        "secret_mysql_host_is_the_database",
        # the notifier's login reads its password from the secret
        "notifier_logs_in_through_access_host_at_profile_version",
        "notifier_databases_exist_utf8mb4_bin",
        "notifier_user_host_is_profile_network",
        "notifier_user_has_all_privileges_on_both_databases",
    },
    "lambda:GetFunctionEventInvokeConfig": {
        "function_concurrency_one_without_async_retries",
        "function_invoked_only_by_its_runner",  # its destinations
    },
    "logs:FilterLogEvents": {
        "function_logs_show_no_timeouts",
        "function_log_shows_every_run_finished",
    },
    # CloudWatch's requests are signed "monitoring": the lab judges them as cloudwatch:*, as AWS
    "cloudwatch:GetMetricData": {
        "rule_fired_once_every_hour",
        "function_had_no_errors_or_throttles",
        "function_duration_below_timeout_with_headroom",
    },
    "states:ListExecutions": {
        "state_machine_ran_every_hour_and_succeeded",
        "database_stopped_unless_a_run_is_in_progress",
    },
    "iam:GetAccountSummary": {"root_account_has_no_access_keys"},
    # IAM's own evaluation of the roles and the group: without it, no permission is judged
    "iam:SimulatePrincipalPolicy": {
        "state_machine_role_may_start_stop_describe_and_invoke",
        "rule_targets_runner_with_permission",
        "function_role_may_do_what_the_function_does",
        "administration_group_may_push_the_image",
    },
}


def _set_enforcement(url: str, free_calls: str) -> None:
    request = urllib.request.Request(
        f"{url}/moto-api/reset-auth",
        data=free_calls.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},  # moto reads the raw body
    )
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request) as answer:
        assert answer.status == 200


@contextmanager
def principal(
    url: str, name: str, document: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """An IAM user holding exactly ``document``; its keys are the run's credentials while IAM
    is enforced. Everything is removed again afterwards."""
    iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1")
    iam.create_user(UserName=name)
    arn = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(document))["Policy"]["Arn"]
    iam.attach_user_policy(UserName=name, PolicyArn=arn)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    try:
        with monkeypatch.context() as env:
            env.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
            env.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
            _set_enforcement(url, "0")
            try:
                yield
            finally:
                _set_enforcement(url, "inf")
    finally:
        iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
        iam.detach_user_policy(UserName=name, PolicyArn=arn)
        iam.delete_policy(PolicyArn=arn)
        iam.delete_user(UserName=name)


def _statuses(run: Run) -> dict[str, Status]:
    return {cid: f.status for cid, f in run.findings.items()}


@pytest.fixture(scope="module")
def baseline(built_lab: Run, lab_profile: Profile) -> dict[str, Status]:
    """The lab's verdicts with the host checks made (the database started and stopped)."""
    return _statuses(verify(lab_profile, start_database=True))


@pytest.fixture
def verify_as(
    lab_url: str, lab_profile: Profile, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Run]:
    """Verify (host checks included) as a principal holding the committed policy, less the
    actions in ``without``; a statement left with no action is dropped."""

    def run_as(name: str, without: Collection[str] = ()) -> Run:
        document = json.loads(POLICY_FILE.read_text())
        for statement in document["Statement"]:
            statement["Action"] = [a for a in statement["Action"] if a not in without]
        document["Statement"] = [s for s in document["Statement"] if s["Action"]]
        with principal(lab_url, name, document, monkeypatch):
            return verify(lab_profile, start_database=True)

    return run_as


def _changed(run: Run, baseline: dict[str, Status]) -> set[str]:
    return {cid for cid, status in _statuses(run).items() if status != baseline[cid]}


def test_the_generated_policy_is_enough(
    verify_as: Callable[..., Run], baseline: dict[str, Status]
) -> None:
    run = verify_as("checker")
    errors = {cid: f.summary for cid, f in run.findings.items() if f.status == Status.ERROR}
    assert errors == {}
    assert _statuses(run) == baseline
    assert outside_policy(run) == set()
    assert run.mutating_calls() == {"ec2:StartInstances": 1, "ec2:StopInstances": 1}


def test_missing_reads_end_in_could_not_check_where_needed(
    verify_as: Callable[..., Run], baseline: dict[str, Status]
) -> None:
    run = verify_as("checker-partial", without=DENIED)
    changed = _changed(run, baseline)
    assert changed == set().union(*DENIED.values())
    for cid in changed:
        finding = run.findings[cid]
        assert finding.status == Status.ERROR, (cid, finding.summary)
        assert finding.evidence["cause"] == "access-denied", (cid, finding.summary)
        assert finding.evidence["permission"] in DENIED, (cid, finding.summary)
        assert cid in DENIED[finding.evidence["permission"]]
        assert finding.evidence["permission"] in finding.summary


def test_a_database_that_may_not_be_started_is_could_not_check_for_the_host_checks(
    verify_as: Callable[..., Run], baseline: dict[str, Status]
) -> None:
    run = verify_as("checker-no-start", without=START_STOP)
    changed = _changed(run, baseline)
    assert changed == DB_HOST | ACCESS
    for cid in changed:
        assert run.findings[cid].status == Status.ERROR
        assert run.findings[cid].evidence["permission"] == "ec2:StartInstances", cid
    assert "ec2:StopInstances" not in run.aws_calls()  # nothing started, nothing to stop


def test_a_checker_that_may_not_read_iam_whole_reads_it_by_name(
    verify_as: Callable[..., Run], baseline: dict[str, Status]
) -> None:
    """iam:GetAccountAuthorizationDetails is one read for the group, user, roles and policies;
    denied, each is read by name and every verdict stands."""
    run = verify_as("checker-by-name", without={"iam:GetAccountAuthorizationDetails"})
    assert _statuses(run) == baseline
    calls = run.aws_calls()
    assert calls["iam:GetAccountAuthorizationDetails"] == 1  # asked once, denied
    assert calls["iam:GetGroup"] == calls["iam:ListGroupsForUser"] == 1
    assert calls["iam:GetRole"] >= 3 and calls["iam:ListPolicies"] >= 1
