"""The runbook's own pytest runs, night after night, against a moto server of this module's
own: each run is recorded in history.jsonl, compared with the last, and a change (only a
change) is announced on SNS and the webhook; a dry run is not recorded, and a corrupt history
is set aside without changing the run's outcome."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from runbook.lab.build import lab_environment
from tests.webhook import SECRET_PATH, serve

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-2"
VPC = "vpc_exists_with_profile_cidr"


def runbook(args: list[str], env: dict[str, str]) -> tuple[int, str, dict[str, Any]]:
    """Run the runbook (pytest on the features); its exit status, output and summary.json."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = next(Path(a.split("=", 1)[1]) for a in args if a.startswith("--reports-dir="))
    return (
        proc.returncode,
        proc.stdout + proc.stderr,
        json.loads((out / "summary.json").read_text()),
    )


def test_nightly_runs_record_compare_and_announce_changes(
    moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in lab_environment(moto_url).items():
        monkeypatch.setenv(name, value)
    hand = boto3.Session(region_name=REGION)  # the test's own: it plays the operator
    sns, sqs = hand.client("sns"), hand.client("sqs")
    topic = sns.create_topic(Name="nightly-changes")["TopicArn"]
    inbox = sqs.create_queue(QueueName="nightly-changes-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])

    def announced() -> list[str]:
        got = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", [])
        for m in got:
            sqs.delete_message(QueueUrl=inbox, ReceiptHandle=m["ReceiptHandle"])
        return [json.loads(m["Body"])["Message"] for m in got]

    profile = tmp_path / "nightly.toml"
    profile.write_text('name = "nightly"\n\n[notify]\nsns_topic = "nightly-changes"\n')
    out = tmp_path / "reports"
    args = [f"--profile={profile}", "-m", "vpc", f"--reports-dir={out}"]
    terminals: list[str] = []

    def nightly(*extra: str) -> tuple[int, str, dict[str, Any]]:
        code, terminal, summary = runbook([*args, *extra], env)
        terminals.append(terminal)
        return code, terminal, summary

    with serve() as hook:
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env["RUNBOOK_WEBHOOK_URL"] = hook.url

        # The first run: no VPC, five failures, news to everyone.
        code, terminal, first = nightly()
        assert code == 1, terminal[-3000:]
        assert first["history"]["note"] == "no history yet: this is the first run"
        assert first["history"]["counts"]["new_failure"] == 5
        assert "no history yet: this is the first run; 5 new failures, 0 fixed" in terminal
        assert [n["sent"] for n in first["notifications"]] == [True, True]
        assert first["mutating_calls"] == {"sns:Publish": 1}
        [message] = announced()
        assert message.startswith("notifier-runbook: profile nightly")
        assert len(hook.received) == 1 and hook.received[0]["json"]["text"] == message

        # The same again: nothing new, nothing sent.
        code, terminal, second = nightly()
        assert code == 1, terminal[-3000:]
        started = first["run"]["started"]
        assert f"since the last run ({started}): 0 new failures, 0 fixed, 0 could not check" in (
            terminal
        )
        assert second["notifications"] == [] and second["mutating_calls"] == {}
        assert announced() == [] and len(hook.received) == 1

        # Someone makes the VPC: one check is fixed, and that is announced.
        hand.client("ec2").create_vpc(
            CidrBlock="10.0.0.0/16",
            TagSpecifications=[
                {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "WikidotNotifierVPC"}]}
            ],
        )
        code, terminal, third = nightly()
        assert code == 1, terminal[-3000:]
        fixed = f"fixed: vpc/{VPC} (fail → pass)"
        assert [(c["id"], c["kind"]) for c in third["history"]["changes"]] == [(VPC, "fixed")]
        assert f"  {fixed}" in terminal
        [message] = announced()
        assert fixed in message and len(hook.received) == 2

        # A dry run is neither recorded nor announced.
        lines = (out / "history.jsonl").read_text().splitlines()
        code, terminal, dry = nightly("--mode", "perform", "--dry-run")
        assert code == 1, terminal[-3000:]
        assert "history" not in dry and dry["notifications"] == []
        assert (out / "history.jsonl").read_text().splitlines() == lines
        assert len(lines) == 3

        # A corrupt history: one warning, set aside, a fresh start; the outcome is the same.
        (out / "history.jsonl").write_text("{not a record\n")
        code, terminal, fresh = nightly()
        assert code == 1, terminal[-3000:]
        assert "WARNING: history " in terminal and "(line 1 is not JSON): moved aside" in terminal
        assert fresh["history"]["note"] == "a fresh history starts with this run"
        [aside] = out.glob("history.jsonl.corrupt-*")
        assert aside.read_text() == "{not a record\n"
        assert len((out / "history.jsonl").read_text().splitlines()) == 1
        assert len(announced()) == 1  # a fresh start announces what fails, as a first run does

    shown = [json.dumps(r) for r in (first, second, third, dry, fresh)]
    shown.append((out / "summary.md").read_text())
    assert not [text for text in [*terminals, *shown] if SECRET_PATH in text]
