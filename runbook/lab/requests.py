"""What a signed AWS request reaching the lab is: service, operation, protocol, signer.

The lab's throttle decides by it whether to refuse a request, and its CloudTrail records it.
Operations are named as the report names them (botocore's ``service:Operation``): from
``X-Amz-Target``, ``Action=``, or a REST request's method and path matched against botocore's
model of the service (its ``requestUri`` templates), whose labels are the path's parameters.
"""

from __future__ import annotations

import functools
import io
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

# SigV4 credential scope: Credential=<key>/<date>/<region>/<service>/aws4_request.
_SCOPE = re.compile(
    r"Credential=(?P<key>[^/,\s]+)/\d{8}/(?P<region>[^/,\s]+)/(?P<service>[^/,\s]+)/aws4_request"
)
# The signing name where it differs from the SDK's service name (the names the report uses).
_SDK_NAME = {"monitoring": "cloudwatch", "states": "stepfunctions"}


@dataclass(frozen=True)
class AwsRequest:
    """Whose request it is, what it asks and how to answer it in its own protocol."""

    service: str
    operation: str  # "?" when a REST path matches none of the service's operations
    protocol: str  # botocore's name: query, ec2, json, rest-json, rest-xml
    region: str = ""  # the region it is signed for (IAM's: its partition's home region)
    access_key: str = ""
    path_params: tuple[tuple[str, str], ...] = ()  # a REST path's labels and their values

    @property
    def name(self) -> str:
        return f"{self.service}:{self.operation}"


@dataclass(frozen=True)
class _Route:
    method: str
    path: re.Pattern[str]
    query: frozenset[str]
    literal: int  # the template's literal characters: the most specific match wins
    operation: str
    labels: tuple[str, ...]


def _route(operation: str, method: str, template: str) -> _Route:
    path, _, query = template.partition("?")
    pattern, literal, labels = "", 0, []
    for text, label in re.findall(r"([^{]*)(?:\{([^}]*)\})?", path):
        pattern += re.escape(text)
        if label:
            pattern += "(.+)" if label.endswith("+") else "([^/]+)"
            labels.append(label.rstrip("+"))
        literal += len(text)
    keys = frozenset(k for k in urllib.parse.parse_qs(query, keep_blank_values=True))
    return _Route(method, re.compile(pattern), keys, literal + len(query), operation, tuple(labels))


@functools.cache
def _rest_service(service: str) -> tuple[str, tuple[_Route, ...]]:
    """A REST service's protocol and routes, from botocore's model (the SDK's own map)."""
    import botocore.session
    from botocore.exceptions import UnknownServiceError

    try:
        model = botocore.session.get_session().get_service_model(service)
    except UnknownServiceError:
        return "rest-json", ()
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        routes.append(_route(name, http.get("method", "POST"), http.get("requestUri", "/")))
    return model.protocol, tuple(routes)


def _rest_operation(
    routes: tuple[_Route, ...], method: str, path: str, query: str
) -> tuple[str, tuple[tuple[str, str], ...]]:
    keys = set(urllib.parse.parse_qs(query, keep_blank_values=True))
    found = [
        (r, m)
        for r in routes
        if r.method == method and r.query <= keys and (m := r.path.fullmatch(path)) is not None
    ]
    if not found:
        return "?", ()
    route, match = max(found, key=lambda rm: rm[0].literal)
    values = (urllib.parse.unquote(v) for v in match.groups())
    return route.operation, tuple(zip(route.labels, values, strict=True))


def request_body(environ: dict[str, Any]) -> bytes:
    """The request's body, read once and put back for the application behind."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        body = environ["wsgi.input"].read(length)
    elif environ.get("wsgi.input_terminated"):  # chunked: werkzeug ends the stream for us
        body = environ["wsgi.input"].read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _form_action(environ: dict[str, Any]) -> str | None:
    """``Action=`` of a query-protocol request."""
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in query:
        return query["Action"][0]
    if not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return None
    form = urllib.parse.parse_qs(request_body(environ).decode("utf-8", "replace"))
    return form["Action"][0] if "Action" in form else None


def identify(environ: dict[str, Any]) -> AwsRequest | None:
    """The service, operation and protocol of a signed AWS request (None: not one)."""
    scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if scope is None:
        return None
    service = _SDK_NAME.get(scope["service"], scope["service"])
    signer = {"region": scope["region"], "access_key": scope["key"]}
    path = environ.get("PATH_INFO", "")
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return AwsRequest(service, target.rsplit(".", 1)[-1], "json", **signer)
    action = _form_action(environ)
    if action:
        return AwsRequest(service, action, "ec2" if service == "ec2" else "query", **signer)
    protocol, routes = _rest_service(service)
    method = environ.get("REQUEST_METHOD", "GET")
    operation, labels = _rest_operation(routes, method, path, environ.get("QUERY_STRING", ""))
    return AwsRequest(service, operation, protocol, path_params=labels, **signer)
