"""Notification on change: a Slack-style webhook (a real loopback HTTP server) and SNS (a moto
server of this module's own, a queue subscribed to the topic); nothing when nothing changed;
a failed notification is a warning, never an exception; the verify guard lets exactly one
write through, the publish to the profile's topic."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from runbook.aws.policy import checker_policy
from runbook.aws.session import is_read, open_session
from runbook.errors import ReadOnlyViolation
from runbook.lab.build import lab_environment
from runbook.profile import History, Profile
from runbook.redact import remember
from runbook.report import history, notify, writers
from runbook.run import Run
from tests.unit.run_reports import RULE, VPC, recorded, report_of
from tests.webhook import SECRET_PATH, Hook, serve

WEBHOOK = {"channel": "webhook", "to": "the webhook ($RUNBOOK_WEBHOOK_URL)"}
REGION = "eu-west-2"


def profile(**settings: Any) -> Profile:
    return Profile.model_validate({"name": "lab", **settings})


def changed_report(reports: Path, first: str = "pass", then: str = "fail") -> dict[str, Any]:
    """The report of a second run in which the VPC check went from ``first`` to ``then``."""
    recorded(report_of({VPC: first, RULE: "pass"}, started="2026-11-22T03:00:00+00:00"), reports)
    report = report_of({VPC: then, RULE: "pass"})
    history.apply(report, reports, History())
    return report


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hook]:
    """The loopback webhook; no proxy from the environment may stand in between."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with serve() as hook:
        yield hook


def env(url: str) -> dict[str, str]:
    return {"RUNBOOK_WEBHOOK_URL": url}


# --- webhook ------------------------------------------------------------------------------


def test_a_change_is_posted_to_the_webhook(webhook: Hook, tmp_path: Path) -> None:
    report = changed_report(tmp_path)
    sent = notify.send(report, Run(profile()), env(webhook.url))
    assert sent == [{**WEBHOOK, "sent": True, "error": None}]
    assert webhook.received == [
        {
            "path": f"/services/{SECRET_PATH}",
            "type": "application/json",
            "json": {"text": notify.message(report, "webhook")},
        }
    ]
    text = notify.message(report, "webhook").splitlines()
    assert text[0].startswith(
        "notifier-runbook: profile lab (<defaults>, eu-west-2) is unhealthy (exit status 1); "
        "verify run started "
    )
    assert text[1:] == [
        "since the last run (2026-11-22T03:00:00+00:00): 1 new failure, 0 fixed, 0 could not check",
        f"- new failure: vpc/{VPC} (pass → fail): {VPC} is fail",
    ]


def test_a_fix_is_posted_too(webhook: Hook, tmp_path: Path) -> None:
    report = changed_report(tmp_path, first="fail", then="pass")
    assert notify.send(report, Run(profile()), env(webhook.url))[0]["sent"] is True
    assert f"- fixed: vpc/{VPC} (fail → pass)" in webhook.received[0]["json"]["text"]


def test_nothing_changed_sends_nothing(webhook: Hook, tmp_path: Path) -> None:
    report = changed_report(tmp_path, first="fail", then="fail")
    assert report["history"]["changes"] == []
    assert notify.send(report, Run(profile()), env(webhook.url)) == []
    assert webhook.received == []


def test_due_says_whether_send_has_anything_to_tell(webhook: Hook, tmp_path: Path) -> None:
    """The report is written before a notification only when one is due (output.py)."""
    changed = changed_report(tmp_path / "changed")
    same = changed_report(tmp_path / "same", first="fail", then="fail")
    assert notify.due(changed, Run(profile()), env(webhook.url))
    assert not notify.due(changed, Run(profile()), {})  # no channel
    assert notify.due(changed, Run(profile(notify={"sns_topic": "t"})), {})
    assert not notify.due(same, Run(profile()), env(webhook.url))  # nothing to tell
    assert webhook.received == []  # due sends nothing


def test_a_first_run_is_announced_only_when_not_healthy(webhook: Hook, tmp_path: Path) -> None:
    healthy = report_of({VPC: "pass"})
    history.apply(healthy, tmp_path / "healthy", History())
    assert notify.send(healthy, Run(profile()), env(webhook.url)) == []
    unhealthy = report_of({VPC: "fail"})
    history.apply(unhealthy, tmp_path / "unhealthy", History())
    assert notify.send(unhealthy, Run(profile()), env(webhook.url))[0]["sent"] is True
    assert (
        "no history yet: this is the first run; 1 new failure"
        in (webhook.received[0]["json"]["text"])
    )


def test_a_dry_run_has_no_history_and_sends_nothing(webhook: Hook) -> None:
    assert notify.send(report_of({VPC: "fail"}), Run(profile()), env(webhook.url)) == []
    assert webhook.received == []


def test_webhook_answering_500_is_a_warning(webhook: Hook, tmp_path: Path) -> None:
    webhook.status = 500
    report = changed_report(tmp_path)
    report["notifications"] = notify.send(report, Run(profile()), env(webhook.url))
    assert report["notifications"] == [
        {
            **WEBHOOK,
            "sent": False,
            "error": "the webhook answered HTTP 500 Internal Server Error",
        }
    ]
    assert len(webhook.received) == 1
    assert (
        "WARNING: could not notify the webhook ($RUNBOOK_WEBHOOK_URL): the webhook answered "
        "HTTP 500 Internal Server Error"
    ) in writers.history_lines(report)
    assert SECRET_PATH not in writers.markdown(report) + json.dumps(report)


def test_webhook_redirecting_is_not_followed(webhook: Hook, tmp_path: Path) -> None:
    """A redirect followed would turn the POST into a GET without the message, and answer 200:
    "sent" while nobody was told."""
    webhook.status, webhook.location = 302, webhook.url + "/moved"
    report = changed_report(tmp_path)
    sent = notify.send(report, Run(profile()), env(webhook.url))
    assert sent == [
        {
            **WEBHOOK,
            "sent": False,
            "error": "the webhook answered HTTP 302 Found: a redirect, not followed (the "
            "message would be lost); give the URL it redirects to",
        }
    ]
    assert len(webhook.received) == 1 and webhook.fetched == []
    assert SECRET_PATH not in json.dumps(sent)


def test_webhook_refusing_the_connection_is_a_warning(tmp_path: Path) -> None:
    with socket.socket() as bound:  # bound, never listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{bound.getsockname()[1]}/services/{SECRET_PATH}"
        [sent] = notify.send(changed_report(tmp_path), Run(profile()), env(url))
    assert sent["sent"] is False
    assert sent["error"].startswith("the webhook is unreachable (")
    assert "refused" in sent["error"] and SECRET_PATH not in sent["error"]


def test_webhook_that_never_answers_is_bounded_by_the_read_timeout(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/services/{SECRET_PATH}"
        run = Run(profile(timeouts={"read_s": 0.2}))
        [sent] = notify.send(changed_report(tmp_path), run, env(url))
    assert sent["sent"] is False and "timed out" in sent["error"]
    assert SECRET_PATH not in sent["error"]


def test_webhook_that_is_not_http_is_refused_without_naming_it(tmp_path: Path) -> None:
    url = f"file:///{SECRET_PATH}"
    [sent] = notify.send(changed_report(tmp_path), Run(profile()), env(url))
    assert sent == {**WEBHOOK, "sent": False, "error": "the webhook's URL is not an http(s) URL"}


def test_the_webhook_variable_is_the_profiles(webhook: Hook, tmp_path: Path) -> None:
    run = Run(profile(notify={"webhook_env": "TEAM_HOOK"}))
    report = changed_report(tmp_path)
    assert notify.send(report, run, env(webhook.url)) == []  # RUNBOOK_WEBHOOK_URL: not read
    [sent] = notify.send(report, run, {"TEAM_HOOK": webhook.url})
    assert sent["to"] == "the webhook ($TEAM_HOOK)" and sent["sent"] is True


def test_no_secret_value_is_sent(webhook: Hook, tmp_path: Path) -> None:
    canary = "canary-Secret-Value-93e1"
    remember(canary)
    report = changed_report(tmp_path)
    report["history"]["changes"][0]["summary"] = f"login refused for password {canary}"
    notify.send(report, Run(profile()), env(webhook.url))
    assert canary not in json.dumps(webhook.received)
    assert "<redacted>" in webhook.received[0]["json"]["text"]


# --- the checker's policy -----------------------------------------------------------------


def test_the_policy_allows_publishing_to_the_topic_only() -> None:
    def publish(p: Profile) -> list[dict[str, Any]]:
        return [s for s in checker_policy(p)["Statement"] if "sns:Publish" in s["Action"]]

    [by_name] = publish(profile(notify={"sns_topic": "runbook-changes"}))
    assert by_name["Action"] == ["sns:Publish"]
    assert by_name["Resource"] == "arn:aws:sns:eu-west-2:*:runbook-changes"
    arn = "arn:aws:sns:eu-west-2:111122223333:ops"
    assert publish(profile(notify={"sns_topic": arn}))[0]["Resource"] == arn
    assert publish(profile()) == []
    assert not is_read("sns", "Publish")


# --- SNS, through a moto server of this module's own --------------------------------------


@dataclass
class Aws:
    """The test's own hand in moto: topics and the queues subscribed to them, named for the
    test (the server is the module's)."""

    sns: Any
    sqs: Any
    suffix: str

    def topic_with_queue(self, name: str) -> tuple[str, str]:
        """A topic ``<name>-<suffix>`` and the URL of a queue subscribed to it."""
        topic = self.sns.create_topic(Name=f"{name}-{self.suffix}")["TopicArn"]
        queue = self.sqs.create_queue(QueueName=f"{name}-{self.suffix}-inbox")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"])
        return topic, queue

    def received(self, queue: str) -> list[dict[str, Any]]:
        """What reached the queue (moto delivers during the publish: no waiting)."""
        got = self.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in got.get("Messages", [])]


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Aws:
    for name, value in lab_environment(moto_url).items():
        monkeypatch.setenv(name, value)
    hand = boto3.Session(region_name=REGION)
    suffix = request.node.name.removeprefix("test_")[:40]
    return Aws(hand.client("sns"), hand.client("sqs"), suffix)


@pytest.mark.lab
def test_sns_publish_reaches_the_topic_and_nothing_else(aws: Aws, tmp_path: Path) -> None:
    topic, inbox = aws.topic_with_queue("runbook-changes")
    other, other_inbox = aws.topic_with_queue("someone-elses")
    name = topic.rsplit(":", 1)[1]
    run = Run(profile(notify={"sns_topic": name}))
    report = changed_report(tmp_path)

    sent = notify.send(report, run, {})

    assert sent == [{"channel": "sns", "to": f"SNS topic {name}", "sent": True, "error": None}]
    [message] = aws.received(inbox)
    assert message["TopicArn"] == topic
    assert message["Subject"] == "notifier-runbook lab: unhealthy"
    assert message["Message"] == notify.message(report, "sns")
    assert run.mutating_calls() == {"sns:Publish": 1}
    # The permit is for that topic only: any other publish is still refused, and not sent.
    for target in ({"TopicArn": other}, {"TargetArn": topic}):
        with pytest.raises(ReadOnlyViolation):
            run.session.client("sns").publish(Message="not from the runbook", **target)
    assert aws.received(other_inbox) == [] and aws.received(inbox) == []
    assert run.mutating_calls() == {"sns:Publish": 1}


@pytest.mark.lab
def test_without_the_permit_a_verify_session_cannot_publish(aws: Aws) -> None:
    topic, inbox = aws.topic_with_queue("runbook-changes")
    with pytest.raises(ReadOnlyViolation):
        open_session(REGION).client("sns").publish(TopicArn=topic, Message="x")
    assert aws.received(inbox) == []


@pytest.mark.lab
def test_sns_topic_given_as_an_arn(aws: Aws, tmp_path: Path) -> None:
    topic, inbox = aws.topic_with_queue("ops")
    run = Run(profile(notify={"sns_topic": topic}))
    [sent] = notify.send(changed_report(tmp_path), run, {})
    assert sent["sent"] is True and sent["to"] == f"SNS topic {topic}"
    assert len(aws.received(inbox)) == 1
    assert "sts:GetCallerIdentity" not in run.aws_calls()  # the ARN names the account


@pytest.mark.lab
def test_sns_topic_in_another_region_is_published_to_there(
    moto_url: str, aws: Aws, tmp_path: Path
) -> None:
    hand = boto3.Session(region_name="us-east-1")
    elsewhere = Aws(hand.client("sns"), hand.client("sqs"), aws.suffix)
    topic, inbox = elsewhere.topic_with_queue("ops")
    run = Run(profile(notify={"sns_topic": topic}))  # the profile's region is eu-west-2
    [sent] = notify.send(changed_report(tmp_path), run, {})
    assert sent == {"channel": "sns", "to": f"SNS topic {topic}", "sent": True, "error": None}
    assert len(elsewhere.received(inbox)) == 1
    assert run.mutating_calls() == {"sns:Publish": 1}  # the same call log
    assert run.session.region == REGION


@pytest.mark.lab
def test_a_failed_publish_is_a_warning_and_the_webhook_still_goes(
    aws: Aws, webhook: Hook, tmp_path: Path
) -> None:
    run = Run(profile(notify={"sns_topic": "no-such-topic"}))
    sns, hook = notify.send(changed_report(tmp_path), run, env(webhook.url))
    assert sns["channel"] == "sns" and sns["sent"] is False
    assert sns["error"].startswith("An error occurred (NotFound) when calling the Publish")
    assert hook == {**WEBHOOK, "sent": True, "error": None}
    assert len(webhook.received) == 1


@pytest.mark.parametrize(
    "url",
    [
        f"http://127.0.0.1:{SECRET_PATH}/x",  # http.client: "nonnumeric port: '<it>'"
        f"http://127.0.0.1/services/{SECRET_PATH} x",  # "URL can't contain control characters"
    ],
)
def test_a_malformed_webhook_url_is_never_quoted(url: str, tmp_path: Path) -> None:
    [sent] = notify.send(changed_report(tmp_path), Run(profile()), env(url))
    assert sent["sent"] is False and sent["error"].startswith("the webhook failed (")
    assert SECRET_PATH not in json.dumps(sent)
