"""The opt-in active egress probe: a throw-away function in the notifier's subnets and security
groups reports the public IP its HTTPS request leaves from.

The configuration checks say a way out *should* exist; only traffic shows that it does. All of
it goes through the run's read-only session: the probe's three writes (create, invoke, delete)
are let through by permits that name the probe's own function, with exactly its parameters,
and only while the probe runs, so the notifier itself can never be invoked or deleted. The
function is deleted in every case; one left behind by a killed run carries the probe's tag and
name and is swept at the start of the next probe. The whole probe is bounded by
``probe.timeout_s`` (the deletion is still made once that is used, within its own call bound).
"""

from __future__ import annotations

import dataclasses
import io
import ipaddress
import json
import re
import secrets
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError

from runbook.aws.collected import CollectionError, classify, collected, error_code
from runbook.aws.session import AwsSession

TAG_KEY = "notifier-runbook:probe"
TAG_VALUE = "egress"
RUNTIME = "python3.12"
HANDLER = "handler.handler"
FUNCTION_TIMEOUT_S = 30  # the probe function's own limit
FETCH_TIMEOUT_S = 10  # its HTTPS request's, well inside the function's
INVOKE_SLACK_S = 5  # for Lambda to answer once the function has ended
POLL_S = 1.0
# The guard's names of the probe's writes (SDK operations), and the IAM actions they need.
WRITES = ("lambda:CreateFunction", "lambda:Invoke", "lambda:DeleteFunction")
IAM_WRITES = (
    "lambda:CreateFunction",
    "lambda:DeleteFunction",
    "lambda:InvokeFunction",
    "lambda:TagResource",  # tags given to CreateFunction need it
)


@cache
def probe_code() -> bytes:
    """The function's package: ``runbook/probe/handler.py`` alone, zipped the same every time."""
    source = resources.files("runbook.probe").joinpath("handler.py").read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        entry = zipfile.ZipInfo("handler.py", date_time=(1980, 1, 1, 0, 0, 0))
        entry.external_attr = 0o644 << 16
        package.writestr(entry, source)
    return out.getvalue()


class ProbeCollector:
    session: Any
    _cache: dict[str, Any]
    function: Any  # FunctionsCollector's, in the Inventory

    @collected(
        "lambda", reads=("ListFunctions", "ListTags", "GetFunctionConfiguration"), sequential=True
    )  # it creates, invokes and deletes a function: in its check's turn only
    def egress_probe(
        self, function_name: str, prefix: str, url: str, timeout_s: str
    ) -> dict[str, Any]:
        """Run the probe once per run: what it saw and what it swept (see ``EgressProbe``)."""
        config = (self.function(function_name) or {}).get("Configuration") or {}
        if not (config.get("VpcConfig") or {}).get("SubnetIds"):
            raise CollectionError(
                "missing", f"function {function_name!r} is not in a VPC: no subnets to probe from"
            )
        probe = EgressProbe(self.session, function_name, prefix, float(timeout_s))
        return probe.run(config, url)


@dataclass
class EgressProbe:
    """One probe: what it may write, until when, and what it made."""

    session: AwsSession
    notifier: str
    prefix: str
    budget_s: float
    name: str = field(init=False)
    deadline: float = field(init=False)
    create_params: dict[str, Any] | None = None  # set just before the function is created
    deletable: set[str] = field(default_factory=set)  # leftovers found tagged, and its own
    active: bool = False  # the permits allow nothing outside ``permitted()``

    def __post_init__(self) -> None:
        self.name = f"{self.prefix}-{secrets.token_hex(4)}"
        self.deadline = time.monotonic() + self.budget_s

    def is_probe_name(self, name: str) -> bool:
        """A name the probe makes (prefix, dash, 8 hex digits), never the notifier's."""
        pattern = re.escape(self.prefix) + "-[0-9a-f]{8}"
        return name != self.notifier and re.fullmatch(pattern, name) is not None

    def _allows_create(self, params: dict[str, Any]) -> bool:
        return self.active and params == self.create_params

    def _allows_invoke(self, params: dict[str, Any]) -> bool:
        return (
            self.active
            and params.get("FunctionName") == self.name
            and params.get("InvocationType") == "RequestResponse"
            and set(params) <= {"FunctionName", "InvocationType", "Payload"}
        )

    def _allows_delete(self, params: dict[str, Any]) -> bool:
        name = params.get("FunctionName")
        return (
            self.active
            and set(params) == {"FunctionName"}
            and name in self.deletable
            and self.is_probe_name(name)
        )

    @contextmanager
    def permitted(self) -> Iterator[None]:
        """The probe's writes go ahead while it runs, each only with its own parameters."""
        allows = (self._allows_create, self._allows_invoke, self._allows_delete)
        for operation, test in zip(WRITES, allows, strict=True):
            self.session.permit(operation, test)
        self.active = True
        try:
            yield
        finally:
            self.active = False
            self.deletable.clear()

    def run(self, config: dict[str, Any], url: str) -> dict[str, Any]:
        """Sweep leftovers, create, wait until Active, invoke, delete: what the probe saw."""
        started = time.monotonic()
        with self.permitted():
            try:
                swept = self._sweep()
                answer: dict[str, Any] | CollectionError = self._create_and_invoke(config, url)
            except (ClientError, BotoCoreError) as exc:
                answer = classify("lambda", exc)
            except CollectionError as exc:
                answer = exc
            finally:  # every case, Ctrl-C included
                left_behind = self._delete_own()
        if isinstance(answer, CollectionError):
            if left_behind:
                raise CollectionError(answer.kind, f"{answer}; {left_behind}", answer.permission)
            raise answer
        vpc = config["VpcConfig"]
        return {
            "function": self.name,
            "subnets": sorted(vpc.get("SubnetIds", [])),
            "security_groups": sorted(vpc.get("SecurityGroupIds", [])),
            "swept": swept,
            **answer,
            "elapsed_s": round(time.monotonic() - started, 2),
            "left_behind": left_behind,
        }

    def _left(self, doing: str) -> float:
        """Seconds left of the probe's budget; none left ends the probe in *error*."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise CollectionError(
                "timeout",
                f"egress probe: its time limit of {self.budget_s:g} s (probe.timeout_s) was "
                f"reached while {doing}",
            )
        return left

    def _sweep(self) -> list[str]:
        """Delete the probes earlier runs left behind: by name and by tag, never anything else."""
        lam = self.session.client("lambda")
        found = []
        for page in lam.get_paginator("list_functions").paginate():
            self._left("looking for leftover probes")
            found += [f for f in page["Functions"] if self.is_probe_name(f["FunctionName"])]
        swept = []
        for function in found:
            name = function["FunctionName"]
            self._left("sweeping leftover probes")
            tags = lam.list_tags(Resource=function["FunctionArn"]).get("Tags") or {}
            if tags.get(TAG_KEY) != TAG_VALUE:
                continue
            self.deletable.add(name)
            try:
                lam.delete_function(FunctionName=name)
            except ClientError as exc:  # another run swept it first
                if error_code(exc) != "ResourceNotFoundException":
                    raise
            swept.append(name)
        return swept

    def _create_and_invoke(self, config: dict[str, Any], url: str) -> dict[str, Any]:
        lam = self.session.client("lambda")
        vpc = config["VpcConfig"]
        self.create_params = {
            "FunctionName": self.name,
            "Runtime": RUNTIME,
            "Role": config["Role"],  # the notifier's: it already may create ENIs in the VPC
            "Handler": HANDLER,
            "Code": {"ZipFile": probe_code()},
            "Description": "notifier-runbook egress probe: deleted after use",
            "Timeout": FUNCTION_TIMEOUT_S,
            "MemorySize": 128,
            "VpcConfig": {
                "SubnetIds": list(vpc["SubnetIds"]),
                "SecurityGroupIds": list(vpc.get("SecurityGroupIds", [])),
            },
            "Tags": {TAG_KEY: TAG_VALUE},
            # every probe logs to one group, not a /aws/lambda/<name> of its own per run
            "LoggingConfig": {"LogGroup": f"/aws/lambda/{self.prefix}"},
        }
        self.deletable.add(self.name)  # before the call: a lost answer may still have made it
        self._left("creating the probe function")
        try:
            lam.create_function(**self.create_params)
        except ClientError as exc:  # a retry after a lost answer: the name is this probe's own
            if error_code(exc) != "ResourceConflictException":
                raise
        self._wait_active(lam)
        return self._invoke(url)

    def _wait_active(self, lam: Any) -> None:
        while True:
            got = lam.get_function_configuration(FunctionName=self.name)
            state = got.get("State")
            if state == "Active":
                return
            if state == "Failed":
                raise CollectionError(
                    "probe-failed",
                    f"probe function {self.name} failed to start: "
                    f"{got.get('StateReasonCode')}: {got.get('StateReason')}",
                )
            time.sleep(min(POLL_S, self._left("waiting for the probe function to be Active")))

    def _invoke(self, url: str) -> dict[str, Any]:
        """One invocation, never retried (a retry runs the probe again), within the budget."""
        left = self._left("invoking the probe")
        wait_s = min(left, FUNCTION_TIMEOUT_S + INVOKE_SLACK_S)
        # The same guard, permits and call log; only this call's bounds differ.
        bounded = dataclasses.replace(
            self.session,
            connect_timeout=min(self.session.connect_timeout, left),
            read_timeout=wait_s,
            max_attempts=1,
            _clients={},
        )
        event = {"url": url, "timeout_s": FETCH_TIMEOUT_S}
        try:
            got = bounded.client("lambda").invoke(
                FunctionName=self.name,
                InvocationType="RequestResponse",
                Payload=json.dumps(event).encode(),
            )
            raw = got["Payload"].read()
        except ReadTimeoutError:
            raise CollectionError(
                "timeout",
                f"egress probe: no answer from {self.name} within {wait_s:.1f} s "
                f"(probe.timeout_s = {self.budget_s:g})",
            ) from None
        return _answer(raw, got.get("FunctionError"))

    def _delete_own(self) -> str | None:
        """Delete the probe's function if it may exist; why it could not be, or None."""
        if self.create_params is None:
            return None
        try:
            self.session.client("lambda").delete_function(FunctionName=self.name)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            why: str = str(classify("lambda", exc))
        except BotoCoreError as exc:
            why = str(classify("lambda", exc))
        else:
            return None
        return f"probe function {self.name} could not be deleted ({why}): the next probe sweeps it"


def _answer(raw: bytes, function_error: str | None) -> dict[str, Any]:
    """The handler's answer as the check reads it: ``ip``, or ``unreachable`` (no way out);
    anything else means the probe could not tell, and ends in *error*."""
    text = raw[:300].decode("utf-8", "replace")
    if function_error:
        raise CollectionError(
            "probe-failed", f"the probe function failed ({function_error}): {text}"
        )
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = None
    if isinstance(answer, dict) and isinstance(answer.get("ip"), str):
        try:
            return {"ip": str(ipaddress.ip_address(answer["ip"])), "unreachable": None}
        except ValueError:
            pass
    if isinstance(answer, dict) and answer.get("unreachable") and answer.get("error"):
        return {"ip": None, "unreachable": str(answer["error"])[:300]}
    if isinstance(answer, dict) and answer.get("error"):
        raise CollectionError(
            "probe-failed", f"the probe could not learn its IP: {answer['error']}"
        )
    raise CollectionError("probe-failed", f"the probe answered {text!r}, not an IP address")
