"""``--blame`` on a broken lab: three faults made by another person (an IAM user of the lab's
own, with its own keys) are each traced back to that person, the call and the time, in the
terminal, summary.json, summary.md and report.html; a run without ``--blame`` asks
CloudTrail nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from runbook.aws.collected import iam_action
from runbook.aws.policy import checker_policy
from runbook.lab import build, control
from runbook.profile import Profile
from runbook.run import Run

from .conftest import break_lab, runbook_pytest

pytestmark = pytest.mark.lab

FAULTS = {  # fault: (the check it fails, the call that made it)
    "database_group_open_to_the_world": (
        "database_sg_admits_only_mysql_from_itself_and_access_host",
        "ec2:AuthorizeSecurityGroupIngress",
    ),
    "rule_left_disabled": ("rule_fires_hourly_and_is_enabled", "events:DisableRule"),
    "administrator_access_on_the_user": (
        "iam_user_has_no_policies_of_its_own",
        "iam:AttachUserPolicy",
    ),
}


@pytest.fixture(scope="module")
def broken_by_mallory(
    built_lab: Run, lab_profile: Profile, lab_url: str
) -> Iterator[dict[str, str]]:
    """The lab with FAULTS made under mallory's keys; rebuilt afterwards (one fault is a
    manual fix: perform never detaches a policy)."""
    iam = boto3.client("iam", region_name=lab_profile.region)
    iam.create_user(UserName="mallory")
    keys = iam.create_access_key(UserName="mallory")["AccessKey"]
    saved = {k: os.environ[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ["AWS_ACCESS_KEY_ID"] = keys["AccessKeyId"]
    os.environ["AWS_SECRET_ACCESS_KEY"] = keys["SecretAccessKey"]
    try:
        break_lab(lab_profile, tuple(FAULTS))
    finally:
        os.environ.update(saved)
    try:
        yield keys
    finally:
        build.build(lab_profile, lab_url)  # a reset: mallory and the trail go too


def _checks(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for s in summary["sections"] for c in s["checks"]}


def test_each_fault_is_traced_to_who_made_it(
    broken_by_mallory: dict[str, str], lab_env: dict[str, str], lab_profile: Profile, tmp_path: Path
) -> None:
    status, output, summary = runbook_pytest(["--blame", "-m", "not hosts"], lab_env, tmp_path)
    assert status == 1, output[-3000:]
    checks = _checks(summary)
    for check_id, call in FAULTS.values():
        newest = checks[check_id]["changed_by"]["changes"][0]
        assert (newest["who"], newest["call"]) == ("mallory", call), checks[check_id]
        assert f"by mallory: {call} on " in output
    # the same change is in the page and the job summary
    page = (tmp_path / "report.html").read_text()
    md = (tmp_path / "summary.md").read_text()
    for _, call in FAULTS.values():
        assert call in page and f"by mallory: {call}" in md
    # bounded, counted and within the policy a blame run is given
    lookups = summary["aws_calls"]["cloudtrail:LookupEvents"]
    assert lookups == summary["blame"]["lookups"] <= 10
    assert f"blame: {lookups} CloudTrail look-up(s)" in output
    allowed = {a for s in checker_policy(lab_profile, blame=True)["Statement"] for a in s["Action"]}
    used = {iam_action(*call.split(":")) for call in summary["aws_calls"]}
    assert used - allowed <= {"sts:GetCallerIdentity"}
    # passing checks are never looked up
    assert all("changed_by" not in c for c in checks.values() if c["status"] != "fail")


def test_without_blame_cloudtrail_is_not_asked(
    broken_by_mallory: dict[str, str], lab_env: dict[str, str], tmp_path: Path
) -> None:
    status, output, summary = runbook_pytest(["-m", "not hosts"], lab_env, tmp_path)
    assert status == 1, output[-3000:]
    assert not any(call.startswith("cloudtrail:") for call in summary["aws_calls"])
    assert summary["blame"] is None
    assert all("changed_by" not in c for c in _checks(summary).values())
    assert "changed:" not in output


def test_blame_that_cannot_look_changes_nothing_but_its_note(
    broken_by_mallory: dict[str, str], lab_env: dict[str, str], lab_url: str, tmp_path: Path
) -> None:
    """CloudTrail throttling every look-up: the same verdicts and exit status, every report
    written, one line that says why nothing was found."""
    control.throttle(lab_url, operations=["cloudtrail:LookupEvents"])
    try:
        status, output, summary = runbook_pytest(["--blame", "-m", "not hosts"], lab_env, tmp_path)
    finally:
        control.throttle(lab_url, 0)
    assert status == 1, output[-3000:]
    assert summary["blame"]["note"].startswith("stopped: cloudtrail:LookupEvents still throttled")
    assert "blame: 1 CloudTrail look-up(s); stopped: " in output
    failing = {c["id"] for c in _checks(summary).values() if c["status"] == "fail"}
    assert {check for check, _ in FAULTS.values()} <= failing
    assert (tmp_path / "report.html").exists() and (tmp_path / "junit.xml").exists()
