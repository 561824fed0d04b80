"""The nightly run end to end on the lab: a fault injected between two runs is *new*, the run
after the fix says *fixed*, each change is announced once (SNS and webhook) and an unchanged
run is quiet."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from checks import lookup as L
from runbook.aws.inventory import Inventory
from runbook.aws.session import open_session
from runbook.lab import build, history
from runbook.profile import Profile
from tests.webhook import serve

from .conftest import LAB_PROFILE, ROOT

pytestmark = pytest.mark.lab

STOPPED = "database_stopped_unless_a_run_is_in_progress"
TOPIC = "notifier-runbook-health"


class Webhook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        Webhook.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    Webhook.received = []
    server = HTTPServer(("127.0.0.1", 0), Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/T000/B000/secret-token"
    server.shutdown()
    server.server_close()


@pytest.fixture
def subscribed_queue(built_lab: Any, lab_profile: Profile, request: pytest.FixtureRequest) -> str:
    """An SQS queue of the test's own subscribed to the topic: what it publishes arrives there."""
    hand = build.lab_hand(lab_profile)
    topic = hand.client("sns").create_topic(Name=TOPIC)["TopicArn"]
    sqs = hand.client("sqs")
    url = sqs.create_queue(QueueName=request.node.name[:80])["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    hand.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["QueueArn"])
    return url


def messages(lab_profile: Profile, queue: str) -> list[dict[str, Any]]:
    sqs = build.lab_hand(lab_profile).client("sqs")
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    for m in got:
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    return [json.loads(m["Body"]) for m in got]


def nightly(profile: Path, reports: Path, env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            f"--profile={profile}",
            "-m",
            "smoke",
            f"--reports-dir={reports}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    summary = json.loads((reports / "summary.json").read_text())
    return done.returncode, summary


def changes(summary: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["id"], c["kind"]) for c in summary["history"]["changes"]]


def test_fault_between_runs_is_new_then_fixed_announced_once_per_change(
    tmp_path: Path,
    lab_profile: Profile,
    lab_env: dict[str, str],
    webhook: str,
    subscribed_queue: str,
) -> None:
    profile = tmp_path / "nightly.toml"
    lab = LAB_PROFILE.read_text()
    profile.write_text(lab + f'\n[notify]\nsns_topic = "{TOPIC}"\n')
    env = {**lab_env, "RUNBOOK_WEBHOOK_URL": webhook}
    reports = tmp_path / "reports"

    status, first = nightly(profile, reports, env)
    assert status == 0, first["totals"]
    assert changes(first) == []
    assert messages(lab_profile, subscribed_queue) == [] and Webhook.received == []

    instance = L.db_instance(Inventory(open_session(lab_profile.region)), lab_profile)
    ec2 = build.lab_hand(lab_profile).client("ec2")
    ec2.start_instances(InstanceIds=[instance["InstanceId"]])  # left running after a run
    try:
        status, second = nightly(profile, reports, env)
        assert status == 1
        assert changes(second) == [(STOPPED, "new_failure")]
        announced = messages(lab_profile, subscribed_queue)
        assert len(announced) == 1 and STOPPED in announced[0]["Message"]
        assert announced[0]["TopicArn"].endswith(f":{TOPIC}")
        assert len(Webhook.received) == 1 and STOPPED in Webhook.received[0]["text"]
        assert second["mutating_calls"] == {"sns:Publish": 1}  # the verify run's only write

        status, third = nightly(profile, reports, env)
        assert status == 1 and changes(third) == []
        assert messages(lab_profile, subscribed_queue) == [] and len(Webhook.received) == 1
    finally:
        ec2.stop_instances(InstanceIds=[instance["InstanceId"]])
        ec2.get_waiter("instance_stopped").wait(InstanceIds=[instance["InstanceId"]])

    status, fourth = nightly(profile, reports, env)
    assert status == 0
    assert changes(fourth) == [(STOPPED, "fixed")]
    announced = messages(lab_profile, subscribed_queue)
    assert len(announced) == 1 and "fixed" in announced[0]["Message"]
    assert len(Webhook.received) == 2 and STOPPED in Webhook.received[1]["text"]
    recorded = (reports / "history.jsonl").read_text().splitlines()
    assert len(recorded) == 4
    assert "secret-token" not in "".join(
        p.read_text(errors="replace") for p in reports.rglob("*") if p.is_file()
    )


@pytest.fixture
def healthy_history_after(lab_profile: Profile, lab_url: str) -> Iterator[None]:
    yield
    history.seed(build.lab_hand(lab_profile), lab_url, lab_profile)


def test_a_new_missed_hour_is_news_each_night_and_a_missed_channel_is_told_later(
    tmp_path: Path,
    lab_profile: Profile,
    lab_url: str,
    lab_env: dict[str, str],
    subscribed_queue: str,
    healthy_history_after: None,
) -> None:
    """The operations checks fail night after night, each time naming an hour more: each
    night's new hour is announced (the verdict alone did not change). The night the webhook
    is down, the next night tells the webhook (only) what it missed; then the run is quiet."""
    profile = tmp_path / "nightly.toml"
    lab = LAB_PROFILE.read_text()
    profile.write_text(lab + f'\n[notify]\nsns_topic = "{TOPIC}"\n')
    reports = tmp_path / "reports"
    now = datetime.now(UTC)  # every night's day is seeded for the same hours
    hand = build.lab_hand(lab_profile)
    missed = {
        history.RULE: "missed",
        history.EXECUTIONS: "missed",
        history.FINISHED: "not finished",
    }

    def hour(ago: int) -> str:
        start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=ago)
        return f"{start:%Y-%m-%dT%H:00Z}"

    with serve() as hook:
        env = {**lab_env, "RUNBOOK_WEBHOOK_URL": hook.url}
        history.seed(hand, lab_url, lab_profile, history.Faults(missed=(5,)), now=now)
        status, first = nightly(profile, reports, env)
        assert status == 1 and changes(first) == [(c, "new_failure") for c in missed]
        assert len(messages(lab_profile, subscribed_queue)) == 1 and len(hook.received) == 1

        # The next night another hour is missed; the webhook is down.
        history.seed(hand, lab_url, lab_profile, history.Faults(missed=(5, 3)), now=now)
        hook.status = 500
        status, second = nightly(profile, reports, env)
        assert status == 1 and changes(second) == [(c, "new_failure") for c in missed]
        assert [c["new_incidents"] for c in second["history"]["changes"]] == [
            [f"{what} {hour(3)}"] for what in missed.values()
        ]
        [told] = messages(lab_profile, subscribed_queue)
        assert f"; new: missed {hour(3)}" in told["Message"]
        assert [n["sent"] for n in second["notifications"]] == [True, False]
        assert len(hook.received) == 2

        # The same day again, the webhook back: nothing new since the last run, but the
        # webhook never heard of the second night: it is told, and SNS is not told twice.
        hook.status = 200
        status, third = nightly(profile, reports, env)
        assert status == 1 and changes(third) == []
        assert third["history"]["unannounced"]["webhook"]["since"] == first["run"]["started"]
        assert messages(lab_profile, subscribed_queue) == []
        assert [n["channel"] for n in third["notifications"]] == ["webhook"]
        assert "a later notification failed" in hook.received[2]["json"]["text"]
        assert f"new: missed {hour(3)}" in hook.received[2]["json"]["text"]

        # And once told, quiet.
        status, fourth = nightly(profile, reports, env)
        assert status == 1 and changes(fourth) == [] and fourth["notifications"] == []
        assert messages(lab_profile, subscribed_queue) == [] and len(hook.received) == 3
    missed_by = [json.loads(line)["unannounced"] for line in (reports / "history.jsonl").open()]
    assert missed_by == [[], ["webhook"], [], []]
