"""What changed a failing resource (``--blame``): CloudTrail's last write events on it.

A failing check's resource is named in words ("rule X", "user X", an id, an ARN); CloudTrail
indexes events by the names their resources had in the request. Each distinct name is looked
up once (``cloudtrail:LookupEvents``, one page, newest first) and its writes that succeeded are
kept. AWS allows two look-ups a second per account and region, so they are paced, and a run
makes at most ``MAX_LOOKUPS`` of them: blame is a hint for the person reading the report, never
a reason for a run to take long. IAM is global: its events are in the partition's home region.
"""

from __future__ import annotations

import dataclasses
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

_STOP = r"[^\s,()\"'\[\]{}]"  # a name ends at a space, a comma, a bracket or a quote
_ARN = re.compile(rf"\barn:(aws[\w-]*):([\w-]+):[\w-]*:(?:\d*|aws):({_STOP}+)")
_ID = re.compile(
    r"\b(?:sg|i|vpc|subnet|eni|eipalloc|eipassoc|igw|nat|rtb|acl|vol|eice)-[0-9a-f]{8,17}\b"
)
_KINDS = r"function|rule|user|group|role|policy|secret|cluster|state machine"
# "<kind> <name>" as the checks write their resources; a kind CloudTrail knows by that name
# (not a log group nor a security group's name; "the state machine rule R starts" is rule R).
_NAMED = re.compile(
    rf"(?<!log )(?<!security )\b({_KINDS})\s+(?!(?:{_KINDS})\b)"
    r"([\w+=.@/-]+?)(?='s\b|[\s,()\"'\]]|$)"
)
_ECR = re.compile(r"\bECR [\w.-]+\.amazonaws\.com(?:\.cn)?/([\w./-]+?)(?=[:@\s]|$)")
_IAM_KINDS = frozenset({"user", "group", "role", "policy"})
# Writes the deployment makes to itself every hour (the schedule starting the state machine,
# which starts and stops the database and invokes the function; its logs): never the change
# a person is looking for, and a day of them would fill a page.
ROUTINE = frozenset(
    {
        "ec2:StartInstances",
        "ec2:StopInstances",
        "states:StartExecution",
        "lambda:Invoke",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sts:AssumeRole",
        "kms:Decrypt",
    }
)
PAGES = 3  # per name, while fewer than SHOWN changes were found (each page is a look-up)


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
    for a run that asked for ``--blame``, once its checks are done, by resource name only."""
    session.permit(LOOKUP, _by_resource_name)


def _by_resource_name(params: dict[str, Any]) -> bool:
    attributes = params.get("LookupAttributes") or []
    return len(attributes) == 1 and attributes[0].get("AttributeKey") == "ResourceName"


def bounded(session: AwsSession, left_s: float) -> AwsSession:
    """The session for the look-ups: the same guard, permits and call log, but few attempts
    each bounded by what is left of the run, so that no look-up holds the run long."""
    read = max(1.0, min(session.read_timeout, left_s))
    return dataclasses.replace(
        session,
        connect_timeout=min(session.connect_timeout, read),
        read_timeout=read,
        max_attempts=min(session.max_attempts, 3),
        _clients={},
        _boto=None,
    )


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
    calls = [0]  # look-ups made, failed ones too
    note: str | None = None

    def allowed() -> str | None:
        """Why no further look-up may start, or None."""
        if calls[0] >= MAX_LOOKUPS:
            return f"stopped at {MAX_LOOKUPS} look-ups (AWS allows 2 a second)"
        if deadline is not None and time.monotonic() >= deadline:
            return "stopped: the run's time (timeouts.run_s) was up"
        return None

    def lookup(name: Name, token: str | None) -> dict[str, Any]:
        pace.wait()
        calls[0] += 1
        asked: dict[str, Any] = {
            "LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": name.name}],
            "StartTime": end - WINDOW,
            "EndTime": end,
            "MaxResults": 50,
        }
        if token:
            asked["NextToken"] = token
        region = home if name.iam else None
        return session.client("cloudtrail", region=region).lookup_events(**asked)

    for found in findings:
        if found.status != Status.FAIL:
            continue
        # A resource in words only ("region eu-west-2"): the ids of what differs instead.
        names = lookup_names(found.resource) or differing_names(found)[:3]
        entry: dict[str, Any] = {"names": [n.name for n in names], "changes": [], "note": None}
        checks[found.check_id] = entry
        if not names:
            entry["note"] = "its resource has no name CloudTrail knows it by"
            continue
        for name in names:
            if name not in answers and note is None:
                note = allowed()
                if note is None:
                    try:
                        answers[name] = _changes(name, lookup, allowed)
                    except (ClientError, BotoCoreError) as exc:
                        note = f"stopped: {classify('cloudtrail', exc)}"
            entry["changes"].extend(answers.get(name, []))
        entry["changes"].sort(key=lambda c: c["when"] or "", reverse=True)
        del entry["changes"][SHOWN:]
        if not entry["changes"] and all(n in answers for n in names):
            entry["note"] = f"no change to it in CloudTrail's last {WINDOW.days} days"
        elif not all(n in answers for n in names):
            entry["note"] = "not all of its names were looked up"
    return {"lookups": calls[0], "note": note, "checks": checks}


def differing_names(found: Finding) -> list[Name]:
    """The names in what differs (its strings, wherever they sit in it)."""
    out: list[Name] = []
    for text in _strings(found.to_dict()["differs"]):
        out += [n for n in lookup_names(text) if n not in out]
    return out


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def _changes(
    name: Name,
    lookup: Callable[[Name, str | None], dict[str, Any]],
    allowed: Callable[[], str | None],
) -> list[dict[str, Any]]:
    """The newest changes to ``name``: up to PAGES pages while fewer than SHOWN were found."""
    out: list[dict[str, Any]] = []
    token = None
    for n in range(PAGES):
        if n and allowed() is not None:
            break
        page = lookup(name, token)
        for event in page.get("Events") or []:
            change = change_of(event, name.name)
            if change is not None:
                out.append(change)
        token = page.get("NextToken")
        if len(out) >= SHOWN or not token:
            break
    return out[:SHOWN]


def change_of(event: Any, resource: str) -> dict[str, Any] | None:
    """One LookupEvents event as a change to ``resource``; None for what changed nothing (a
    read, a call AWS refused) or what the deployment does to itself every hour (ROUTINE)."""
    if not isinstance(event, dict):
        return None
    record = _record(event.get("CloudTrailEvent"))
    if event.get("ReadOnly") == "true" or record.get("errorCode"):
        return None
    source = str(event.get("EventSource") or record.get("eventSource") or "")
    call = f"{source.split('.', 1)[0]}:{event.get('EventName') or record.get('eventName')}"
    if call in ROUTINE:
        return None
    identity = record.get("userIdentity")
    identity = identity if isinstance(identity, dict) else {}
    return {
        "resource": resource,
        "when": _when(event.get("EventTime")),
        "who": str(event.get("Username") or identity.get("arn") or "unknown"),
        "identity": identity.get("arn"),
        "call": call,
        "source_ip": record.get("sourceIPAddress"),
        "event_id": event.get("EventId"),
    }


def _when(value: Any) -> str | None:
    """ISO 8601 in UTC, whatever shape the time came in (botocore's datetime, epoch seconds)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds")
        except (OverflowError, ValueError, OSError):
            return str(value)
    return str(value) if value else None


def _record(text: Any) -> dict[str, Any]:
    """The event's own JSON (CloudTrailEvent); {} when it is not a JSON object."""
    try:
        record = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}
