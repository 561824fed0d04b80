"""What changed a failing resource (``--blame``): CloudTrail's last write events on it.

A failing check's resource is named in words ("rule X", "user X", an id, an ARN); CloudTrail
indexes events by the names their resources had in the request. Each distinct name is looked
up once (``cloudtrail:LookupEvents``, one page, newest first) and its writes that succeeded are
kept. AWS allows two look-ups a second per account and region, so they are paced, and a run
makes at most ``MAX_LOOKUPS`` of them: blame is a hint for the person reading the report, never
a reason for a run to take long. IAM is global: its events are in the partition's home region.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from runbook.aws.collected import classify
from runbook.aws.session import AwsSession
from runbook.findings import Finding, Status

LOOKUP = "cloudtrail:LookupEvents"
MAX_LOOKUPS = 10  # per run: 5 s of AWS's rate at most
PER_SECOND = 2.0  # AWS's limit for LookupEvents, per account and region
SHOWN = 3  # the newest writes shown per resource
WINDOW = timedelta(days=90)  # what LookupEvents can see
# Where a partition's global services (IAM) deliver their events.
HOME_REGION = {"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}

_ARN = re.compile(r"\barn:(aws[\w-]*):([\w-]+):[\w-]*:\d*:([^\s,()]+)")
_ID = re.compile(
    r"\b(?:sg|i|vpc|subnet|eni|eipalloc|eipassoc|igw|nat|rtb|acl|vol|eice)-[0-9a-f]{8,17}\b"
)
# "<kind> <name>" as the checks write their resources; a kind CloudTrail knows by that name.
_NAMED = re.compile(
    r"\b(function|rule|user|group|role|policy|secret|cluster|state machine)\s+"
    r"([\w+=.@/-]+?)(?='s\b|[\s,()]|$)"
)
_ECR = re.compile(r"\bECR [\w.-]+\.amazonaws\.com(?:\.cn)?/([\w./-]+?)(?=[:@\s]|$)")
_IAM_KINDS = frozenset({"user", "group", "role", "policy"})


@dataclass(frozen=True)
class Name:
    """A name CloudTrail may know a resource by, and the region whose events hold it."""

    name: str
    iam: bool  # IAM's events are in the partition's home region, not the deployment's


def lookup_names(resource: str | None) -> list[Name]:
    """The names in a finding's resource text that CloudTrail indexes events by: ids, ARNs'
    names, ``<kind> <name>``, an ECR repository; nothing for words that name no resource
    ("region eu-west-2", "the access host ...")."""
    if not resource:
        return []
    found: list[Name] = []
    for match in _ARN.finditer(resource):
        tail = re.split(r"[/:]", match[3])[-1]
        found.append(Name(tail, match[2] == "iam"))
    for match in _ID.finditer(resource):
        found.append(Name(match[0], False))
    for match in _NAMED.finditer(resource):
        found.append(Name(match[2], match[1] in _IAM_KINDS))
    for match in _ECR.finditer(resource):
        found.append(Name(match[1], False))
    unique: dict[str, Name] = {}
    for n in found:  # ids and ARNs first: "group sg-..." is an id, not an IAM group
        unique.setdefault(n.name, n)
    return list(unique.values())


@dataclass
class Pace:
    """At most ``per_second`` calls a second: each waits until its turn."""

    per_second: float = PER_SECOND
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _next: float = field(default=float("-inf"))

    def wait(self) -> None:
        now = self.clock()
        if now < self._next:
            self.sleep(self._next - now)
            now = self._next
        self._next = now + 1 / self.per_second


def permit_lookups(session: AwsSession) -> None:
    """A verify session makes only its collections' reads: LookupEvents is let through only
    for a run that asked for ``--blame``."""
    session.permit(LOOKUP, lambda params: True)


def blame(
    session: AwsSession,
    findings: Iterable[Finding],
    *,
    partition: str,
    deadline: float | None = None,
    pace: Pace | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """For each failing finding whose resource has a name, the newest writes to it:
    ``{"lookups": n, "note": str | None, "checks": {check_id: {"names": [...], "changes":
    [...], "note": str | None}}}``. Stops (with a note) at the first error that would repeat
    for every name (access denied, throttled, unreachable), at ``MAX_LOOKUPS`` and at
    ``deadline`` (``time.monotonic()``)."""
    pace = pace or Pace()
    end = now or datetime.now(UTC)
    home = HOME_REGION.get(partition, "us-east-1")
    answers: dict[Name, list[dict[str, Any]]] = {}
    checks: dict[str, Any] = {}
    note: str | None = None
    for found in findings:
        if found.status != Status.FAIL:
            continue
        # A resource in words only ("region eu-west-2"): the ids of what differs instead.
        what_differs = json.dumps(found.to_dict()["differs"], default=str)
        names = lookup_names(found.resource) or lookup_names(what_differs)[:3]
        entry: dict[str, Any] = {"names": [n.name for n in names], "changes": [], "note": None}
        checks[found.check_id] = entry
        if not names:
            entry["note"] = "its resource has no name CloudTrail knows it by"
            continue
        for name in names:
            if name not in answers and note is None:
                if len(answers) >= MAX_LOOKUPS:
                    note = f"stopped at {MAX_LOOKUPS} look-ups (AWS allows 2 a second)"
                elif deadline is not None and time.monotonic() >= deadline:
                    note = "stopped: the run's time (timeouts.run_s) was up"
                else:
                    try:
                        pace.wait()
                        answers[name] = _writes(session, name, home if name.iam else None, end)
                    except (ClientError, BotoCoreError) as exc:
                        note = f"stopped: {classify('cloudtrail', exc)}"
            entry["changes"].extend(answers.get(name, []))
        entry["changes"].sort(key=lambda c: c["when"], reverse=True)
        del entry["changes"][SHOWN:]
        if not entry["changes"] and all(n in answers for n in names):
            entry["note"] = f"no write to it in CloudTrail's last {WINDOW.days} days"
        elif not all(n in answers for n in names):
            entry["note"] = "not all of its names were looked up"
    return {"lookups": len(answers), "note": note, "checks": checks}


def _writes(
    session: AwsSession, name: Name, region: str | None, end: datetime
) -> list[dict[str, Any]]:
    page = session.client("cloudtrail", region=region).lookup_events(
        LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": name.name}],
        StartTime=end - WINDOW,
        EndTime=end,
        MaxResults=50,
    )
    out = []
    for event in page.get("Events", []):
        record = _record(event.get("CloudTrailEvent"))
        if event.get("ReadOnly") == "true" or record.get("errorCode"):
            continue  # a read, or a write AWS refused: neither changed anything
        when = event.get("EventTime")
        source = str(event.get("EventSource") or record.get("eventSource") or "")
        identity = record.get("userIdentity")
        identity = identity if isinstance(identity, dict) else {}
        out.append(
            {
                "resource": name.name,
                "when": when.astimezone(UTC).isoformat(timespec="seconds")
                if isinstance(when, datetime)
                else str(when),
                "who": event.get("Username") or identity.get("arn") or "unknown",
                "identity": identity.get("arn"),
                "call": f"{source.split('.', 1)[0]}:{event.get('EventName')}",
                "source_ip": record.get("sourceIPAddress"),
                "event_id": event.get("EventId"),
            }
        )
        if len(out) == SHOWN:
            break
    return out


def _record(text: Any) -> dict[str, Any]:
    """The event's own JSON (CloudTrailEvent); {} when it is not a JSON object."""
    try:
        record = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}
