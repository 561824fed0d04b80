"""The lab's CloudTrail: every AWS request the lab serves, answered by ``LookupEvents``.

moto has CloudTrail's trails but no event history (no LookupEvents). This WSGI middleware
records each signed request it serves (not those the lab's throttle refused, nor LookupEvents
itself) as CloudTrail records a management event, in the region it was
signed for, IAM's in its partition's home region (where AWS delivers them): who
made it (the caller moto's STS says the access key is), when, the call, whether it only read,
the error code if AWS refused it, and the resources it names. A resource is what a request
parameter names by its key (``...Id``, ``...Name``, ``...Arn``, ``Rule``, a REST path label),
an ARN also by its last part: the request's own words, as CloudTrail's lookup index has them;
a write that succeeded also by the ids and ARNs its response gives (what it created).
``moto-api/reset`` forgets them with everything else.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import threading
import urllib.parse
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from runbook.aws.session import is_read
from runbook.lab.requests import AwsRequest, identify, request_body

KEPT = 20_000  # the newest events kept (a lab's session makes a few thousand requests)
ATTRIBUTES = frozenset(
    {
        "EventId",
        "EventName",
        "ReadOnly",
        "Username",
        "ResourceType",
        "ResourceName",
        "EventSource",
        "AccessKeyId",
    }
)
_NAMES = re.compile(r"(?:Id|Ids|Name|Names|Arn|ARN|Identifier|^Rule)$")
_ERROR_CODE = re.compile(rb"<Code>([^<]+)</Code>|\"(?:__type|code|Code)\"\s*:\s*\"([^\"]+)\"")
_SOURCE = {"stepfunctions": "states", "cloudwatch": "monitoring"}
_ARN = re.compile(r"^arn:[\w-]+:[\w-]+:[\w-]*:\d*:(.+)$")
_GLOBAL = frozenset({"iam"})


class Trail:
    """Records what passes through to ``app`` and answers LookupEvents itself."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self._lock = threading.Lock()
        self.events: deque[dict[str, Any]] = deque(maxlen=KEPT)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == "/moto-api/reset":
            with self._lock:
                self.events.clear()
        request = identify(environ)
        if request is None:
            return self.app(environ, start_response)
        if request.name == "cloudtrail:LookupEvents":
            return self._lookup(request, environ, start_response)
        pairs = _asked(request, environ)
        seen: dict[str, Any] = {}

        def recording(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            seen.update(status=int(status.split()[0]), headers=dict(headers))
            return start_response(status, headers, *rest)

        answer = self.app(environ, recording)
        try:
            body = b"".join(answer)
        finally:
            if hasattr(answer, "close"):
                answer.close()
        try:  # AWS has acted: a record that cannot be made must not look like its failure
            if seen.get("status", 500) < 400 and not is_read(request.service, request.operation):
                pairs += _created(body)
            self._record(request, _named(pairs), environ, seen, body)
        except Exception as exc:
            print(f"lab trail: {request.name} not recorded ({exc!r})", file=sys.stderr)
        return [body]

    def _record(
        self,
        request: AwsRequest,
        resources: list[dict[str, str]],
        environ: dict[str, Any],
        seen: dict[str, Any],
        body: bytes,
    ) -> None:
        error = None
        if seen.get("status", 500) >= 400:
            error = seen.get("headers", {}).get("x-amzn-ErrorType", "").split(":")[0]
            found = _ERROR_CODE.search(body)
            error = error or (found and (found[1] or found[2]).decode()) or str(seen["status"])
        arn = _caller_arn(request.access_key, request.region)
        user = arn.rsplit("/", 1)[-1]
        source = f"{_SOURCE.get(request.service, request.service)}.amazonaws.com"
        read_only = is_read(request.service, request.operation)
        now = datetime.now(UTC)
        region = request.region
        if request.service in _GLOBAL:
            region = "cn-north-1" if region.startswith("cn-") else "us-east-1"
        record = {
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "AssumedRole" if ":assumed-role/" in arn else "IAMUser",
                "arn": arn,
                "accessKeyId": request.access_key,
            },
            "eventTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": source,
            "eventName": request.operation,
            "awsRegion": region,
            "sourceIPAddress": environ.get("REMOTE_ADDR", "127.0.0.1"),
            "userAgent": environ.get("HTTP_USER_AGENT", ""),
            "readOnly": read_only,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "resources": [{"ARN": r["ResourceName"]} for r in resources],
        }
        if error:
            record["errorCode"] = error
        event_id = str(uuid.uuid4())
        record["eventID"] = event_id
        with self._lock:
            self.events.append(
                {
                    "EventId": event_id,
                    "EventName": request.operation,
                    "ReadOnly": "true" if read_only else "false",
                    "AccessKeyId": request.access_key,
                    "EventTime": now.timestamp(),
                    "EventSource": source,
                    "Username": user,
                    "Resources": resources,
                    "CloudTrailEvent": json.dumps(record),
                    "_region": region,
                }
            )

    def _lookup(
        self, request: AwsRequest, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> list[bytes]:
        try:
            asked = json.loads(request_body(environ) or b"{}")
            if not isinstance(asked, dict):
                raise ValueError("SerializationException: the request is not a JSON object")
            answer = self.lookup(request.region, asked)
        except ValueError as exc:
            name, _, message = str(exc).partition(": ")
            return _json(start_response, "400 Bad Request", {"__type": name, "message": message})
        return _json(start_response, "200 OK", answer)

    def lookup(self, region: str, asked: dict[str, Any]) -> dict[str, Any]:
        """LookupEvents as AWS answers it: newest first, one attribute at most, MaxResults
        from 1 to 50 (default 50), a NextToken while more match. ValueError("Code: message")
        for what AWS refuses."""
        attributes = asked.get("LookupAttributes") or []
        if len(attributes) > 1:
            raise ValueError("InvalidLookupAttributesException: only one attribute is allowed")
        for a in attributes:
            if (
                not isinstance(a, dict)
                or a.get("AttributeKey") not in ATTRIBUTES
                or not a.get("AttributeValue")
            ):
                raise ValueError(f"InvalidLookupAttributesException: {a!r} is not valid")
        limit = asked.get("MaxResults", 50)
        if not isinstance(limit, int) or not 1 <= limit <= 50:
            raise ValueError("InvalidMaxResultsException: MaxResults must be from 1 to 50")
        start = asked.get("StartTime", float("-inf"))
        end = asked.get("EndTime", float("inf"))
        if start > end:
            raise ValueError("InvalidTimeRangeException: StartTime is after EndTime")
        token = asked.get("NextToken") or "0"
        if not isinstance(token, str) or not token.isdigit():
            raise ValueError("InvalidNextTokenException: the token is not one this trail gave")
        offset = int(token)
        with self._lock:
            events = [e for e in reversed(self.events) if e["_region"] == region]
        matching = [e for e in events if start <= e["EventTime"] <= end and _matches(e, attributes)]
        page = matching[offset : offset + limit]
        answer: dict[str, Any] = {
            "Events": [{k: v for k, v in e.items() if not k.startswith("_")} for e in page]
        }
        if offset + limit < len(matching):
            answer["NextToken"] = str(offset + limit)
        return answer


def _matches(event: dict[str, Any], attributes: list[dict[str, str]]) -> bool:
    for a in attributes:
        key, value = a["AttributeKey"], a["AttributeValue"]
        if key in ("ResourceName", "ResourceType"):
            if not any(r.get(key) == value for r in event["Resources"]):
                return False
        elif event.get(key) != value:
            return False
    return True


def _asked(request: AwsRequest, environ: dict[str, Any]) -> list[tuple[str, Any]]:
    """Every parameter of the request as (key, value): path labels, form fields (by their last
    name: ``IpPermissions.1.Groups.1.GroupId`` is a ``GroupId``), a JSON body's keys."""
    pairs: list[tuple[str, Any]] = list(request.path_params)
    body = request_body(environ)
    if request.protocol in ("query", "ec2"):
        text = environ.get("QUERY_STRING", "") + "&" + body.decode("utf-8", "replace")
        for key, values in urllib.parse.parse_qs(text).items():
            last = ".".join(p for p in key.split(".") if not p.isdigit()).rsplit(".", 1)[-1]
            pairs += [(last, v) for v in values]
    elif "json" in environ.get("CONTENT_TYPE", "") and body[:1] == b"{":
        with contextlib.suppress(ValueError):
            pairs += list(_walk(json.loads(body)))
    return pairs


_XML_ID = re.compile(rb"<(\w+(?:Id|Arn))>([^<]{1,256})</\1>")
_NOT_CREATED = frozenset({"requestId", "RequestId", "ownerId", "OwnerId"})


def _created(body: bytes) -> list[tuple[str, Any]]:
    """The ids and ARNs a write's answer gives (the resource it created)."""
    pairs: list[tuple[str, Any]] = [(k.decode(), v.decode()) for k, v in _XML_ID.findall(body)]
    if body[:1] == b"{":
        with contextlib.suppress(ValueError):
            pairs += [(k, v) for k, v in _walk(json.loads(body)) if re.search(r"(Id|Arn|ARN)$", k)]
    return [(k, v) for k, v in pairs if k not in _NOT_CREATED]


def _named(pairs: list[tuple[str, Any]]) -> list[dict[str, str]]:
    """The resources the pairs name: ``{"ResourceType": key, "ResourceName": value}``, an ARN
    also by its last part, each name once."""
    out: dict[str, dict[str, str]] = {}
    for key, value in pairs:
        if not _NAMES.search(key) or not isinstance(value, str) or not 0 < len(value) <= 256:
            continue
        names = [value]
        tail = _ARN.match(value)
        if tail:
            names.append(re.split(r"[/:]", tail[1])[-1])
        for name in names:
            out.setdefault(name, {"ResourceType": key, "ResourceName": name})
    return list(out.values())


def _walk(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """Every (key, scalar) in a JSON document, lists under their key."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v, key)
    else:
        yield key, value


def _caller_arn(access_key: str, region: str) -> str:
    """Who the access key is, as moto's GetCallerIdentity says (``user/moto`` for keys moto
    did not issue)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sts.models import sts_backends

    partition = "aws-cn" if region.startswith("cn-") else "aws"
    backend = sts_backends[DEFAULT_ACCOUNT_ID][partition]
    return backend.get_caller_identity(access_key, region)[1]


def _json(start_response: Callable[..., Any], status: str, answer: Any) -> list[bytes]:
    body = json.dumps(answer).encode()
    start_response(
        status,
        [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(body)))],
    )
    return [body]
