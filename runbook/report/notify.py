"""Announce a change of the deployment's health: an SNS message and/or a Slack-style webhook.

A message is sent only when the comparison with the history found a change (a new failure,
a fix, a check that could not be checked or is checked again), so a nightly run that finds what
it found the night before stays quiet; a first run is announced only when it is not healthy;
what a failed notification did not tell is told by the next run's. A notification
never changes the run's outcome: whatever goes wrong is one line in the terminal and in the
report. The webhook's URL is a credential (whoever holds it can post) and is never printed.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from http.client import HTTPException
from typing import TYPE_CHECKING, Any

from runbook.aws.policy import SNS_PUBLISH, sns_topic_arn
from runbook.errors import ExitStatus
from runbook.redact import remember, scrub
from runbook.report.writers import announcement, to_announce

if TYPE_CHECKING:
    from runbook.run import Run

SUBJECT_LIMIT = 99  # SNS: fewer than 100 ASCII characters, no line breaks


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """urllib follows a redirect of a POST as a GET without the body: the message would be
    lost and the answer still 200. A redirect is an HTTPError here instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)  # proxies from the environment still apply


class NotifyError(Exception):
    """A notification could not be delivered; the message is one line and holds no secret."""


def verdict(report: dict[str, Any]) -> str:
    return ExitStatus(report["run"]["exit_status"]).name.lower().replace("_", "-")


def subject(report: dict[str, Any]) -> str:
    """The SNS subject (e-mail subscribers see it): the profile and the verdict."""
    text = f"notifier-runbook {report['profile']['name']}: {verdict(report)}"
    text = " ".join(scrub(text).split()).encode("ascii", "replace").decode()
    return text[:SUBJECT_LIMIT]


def message(report: dict[str, Any], channel: str) -> str:
    """The text sent on ``channel``: profile, verdict, and one line per change it has not been
    told of; no secret survives."""
    run, profile = report["run"], report["profile"]
    lines = [
        f"notifier-runbook: profile {profile['name']} ({profile['source']}, {profile['region']})"
        f" is {verdict(report)} (exit status {run['exit_status']}); {run['mode']} run started "
        f"{run['started']}",
        *announcement(report["history"], channel),
    ]
    return scrub("\n".join(lines))


def publish_sns(run: Run, topic: str, title: str, text: str) -> None:
    """Publish to the profile's topic (a name in the profile's region, or an ARN) through the
    run's read-only session.

    The session's guard refuses every write of a verify run: the permit lets one write
    through, ``sns:Publish`` to this topic and no other, and the call log counts it.
    """
    arn_given = topic.startswith("arn:")  # else the topic is in the run's own account
    account = "*" if arn_given else run.account or run.inventory.caller_identity()["Account"]
    arn = sns_topic_arn(topic, run.profile.region, account)
    session = run.session
    session.permit(SNS_PUBLISH, lambda params: params.get("TopicArn") == arn)
    # A topic elsewhere is published to in its own region, through the same guard and log.
    session.client("sns", region=arn.split(":")[3]).publish(
        TopicArn=arn, Subject=title, Message=text
    )


def post_webhook(url: str, text: str, timeout: float) -> None:
    """POST ``{"text": ...}`` as JSON; NotifyError (never naming the URL) unless 2xx."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise NotifyError("the webhook's URL is not an http(s) URL")
    request = urllib.request.Request(
        url,
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(4096)
    except urllib.error.HTTPError as exc:
        moved = (
            ": a redirect, not followed (the message would be lost); give the URL it redirects to"
            if 300 <= exc.code < 400
            else ""
        )
        raise NotifyError(f"the webhook answered HTTP {exc.code} {exc.reason}{moved}") from None
    except urllib.error.URLError as exc:
        raise NotifyError(f"the webhook is unreachable ({exc.reason})") from None
    except TimeoutError:
        raise NotifyError(f"the webhook timed out (no answer within {timeout:g} s)") from None
    except (OSError, ValueError, HTTPException) as exc:  # their texts may quote the URL
        raise NotifyError(f"the webhook failed ({type(exc).__name__})") from None


def _attempt(channel: str, to: str, deliver: Callable[[], Any], hide: str = "") -> dict[str, Any]:
    """Deliver one notification; whatever goes wrong becomes the entry's ``error``."""
    try:
        deliver()
    except Exception as exc:  # a notification never breaks a run, whatever fails
        error = " ".join(str(exc).split()) or type(exc).__name__
        if hide:
            error = error.replace(hide, "<the webhook>")
        return {"channel": channel, "to": to, "sent": False, "error": scrub(error)}
    return {"channel": channel, "to": to, "sent": True, "error": None}


def due(report: dict[str, Any], run: Run, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether ``send`` has anything to tell on a channel the profile sets."""
    return bool(_channels(report, run, environ))


def _channels(report: dict[str, Any], run: Run, environ: Mapping[str, str]) -> list[str]:
    """The channels the profile sets that have something to be told (none without history)."""
    history = report.get("history")
    settings = (("sns", run.profile.notify.sns_topic), ("webhook", _webhook(run, environ)))
    return [c for c, to in settings if history and to and to_announce(history, c)]


def _webhook(run: Run, environ: Mapping[str, str]) -> str:
    url = environ.get(run.profile.notify.webhook_env, "").strip()
    remember(url)  # a credential: no report, log or message may carry it
    return url


def send(
    report: dict[str, Any], run: Run, environ: Mapping[str, str] = os.environ
) -> list[dict[str, Any]]:
    """Announce the run's changes on every channel the profile sets that has something to be
    told (a dry run has no history: nothing); what was sent (docs: ``notifications`` in
    docs/report.md). Nothing when nothing changed."""
    settings = run.profile.notify
    url = _webhook(run, environ)
    channels = _channels(report, run, environ)
    out = []
    if "sns" in channels:
        topic, told = settings.sns_topic, message(report, "sns")
        out.append(
            _attempt(
                "sns",
                f"SNS topic {topic}",
                lambda: publish_sns(run, topic, subject(report), told),
            )
        )
    if "webhook" in channels:
        text = message(report, "webhook")
        out.append(
            _attempt(
                "webhook",
                f"the webhook (${settings.webhook_env})",
                lambda: post_webhook(url, text, run.profile.timeouts.read_s),
                hide=url,
            )
        )
    return out
