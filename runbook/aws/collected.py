"""Caching of collections, failures included, and the translation of AWS errors.

A failed collection is remembered as a CollectionError and raised again to every check that
asks for the same data: those checks end in *error*, the others are unaffected.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

ACCESS_DENIED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "403",
    }
)
# The credentials themselves were refused: no permission would help.
CREDENTIALS_REFUSED = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "AuthFailure",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "InvalidAccessKeyId",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
    }
)
THROTTLED = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "SlowDown",
    }
)
# The IAM action prefix differs from the SDK's service name for a few services.
IAM_PREFIX = {"stepfunctions": "states"}
# The few SDK operations whose IAM action has another name.
IAM_ACTION_NAME = {"lambda:Invoke": "lambda:InvokeFunction"}
# Every IAM action a collection declares it reads: the checker's least-privilege policy.
DECLARED_READS: set[str] = set()
# Collections left out of the inventory's snapshot (reports/inventory.json): what the
# deployment is, not the rest of the account the read brought along.
UNRECORDED: set[str] = set()


class CollectionError(Exception):
    """Data a check needs could not be read. ``kind`` is one word for the report."""

    def __init__(self, kind: str, message: str, permission: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.permission = permission


def classify(service: str, exc: Exception) -> CollectionError:
    """One line that says why the data could not be read and what to do."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        action = iam_action(service, exc.operation_name)
        if code in CREDENTIALS_REFUSED:
            return CollectionError(
                "credentials-refused",
                f"{action}: the AWS credentials were refused ({code}): renew or fix them",
            )
        if code in ACCESS_DENIED:
            return CollectionError(
                "access-denied",
                f"access denied to {action}: grant it to the checking principal",
                permission=action,
            )
        if code in THROTTLED:
            return CollectionError("throttled", f"{action} still throttled after retries ({code})")
        message = str(exc.response.get("Error", {}).get("Message", ""))[:200]
        return CollectionError("aws-error", f"{action} failed: {code} {message}".strip())
    if isinstance(exc, NoCredentialsError):
        return CollectionError(
            "no-credentials",
            "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
        )
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        return CollectionError(
            "unreachable",
            f"{service} endpoint unreachable or timed out: {exc} "
            "(check AWS_ENDPOINT_URL, network and the profile's timeouts)",
        )
    return CollectionError("aws-error", f"{service}: {type(exc).__name__}: {exc}")


F = TypeVar("F", bound=Callable[..., Any])


def iam_action(service: str, operation: str) -> str:
    """The IAM action of an SDK call (``stepfunctions``, ``DescribeStateMachine`` →
    ``states:DescribeStateMachine``)."""
    action = f"{IAM_PREFIX.get(service, service)}:{operation}"
    return IAM_ACTION_NAME.get(action, action)


def cache_key(name: str, *args: str) -> str:
    """A collection's key in the inventory's cache (and its snapshot): ``name("a", "b")``."""
    return f"{name}({json.dumps(list(args))[1:-1]})"


class Deferred(Exception):
    """A collection that is not made while prefetching (it is made in the checks' order)."""


_THREAD = threading.local()
_FLIGHTS = threading.Lock()
# Made in the checks' order, never by a prefetch: the hosts (a database this run starts, SSH
# sessions), and what declares itself so (the egress probe, the database's state "now").
SEQUENTIAL_SERVICES = frozenset({"ssh", "mysql"})
# Read by each deployment for itself even where a fleet shares its account: a local file.
OWN_SERVICES = SEQUENTIAL_SERVICES | {"local"}
# Failures that may pass (a retry, a minute later): not kept for a fleet's other deployments.
PASSING = frozenset({"throttled", "unreachable", "aws-error"})


class SharedReads:
    """The AWS reads of deployments in one account, region and identity (a fleet's): a key
    names the same call with the same answer for each of them, so it is made once. What
    depends on a deployment's own hosts or order (sequential) is never shared, nor is a
    failure that may pass (throttled, unreachable, AWS's own error): each deployment whose
    read meets one makes it again, as its own run would."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}


@contextmanager
def prefetching(*stops: threading.Event) -> Iterator[None]:
    """In this thread, collections that must keep the checks' order raise Deferred, and so
    does every collection not made yet once one of ``stops`` is set (the run, or the fleet
    it is part of, was interrupted)."""
    _THREAD.prefetching = stops
    try:
        yield
    finally:
        _THREAD.prefetching = None


def _flight(owner: Any, key: str) -> threading.Lock:
    """One lock per collection: threads asking for the same data wait for one call."""
    with _FLIGHTS:
        return owner.__dict__.setdefault("_flights", {}).setdefault(key, threading.Lock())


def together(*calls: Callable[[], Any]) -> list[Any]:
    """A collection's independent calls made at once, their answers in order; the first
    failure among them is raised, as when they are made one after the other."""
    if len(calls) < 2:
        return [call() for call in calls]
    with ThreadPoolExecutor(len(calls), thread_name_prefix="together") as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]


def ahead(*reads: Callable[[], Any]) -> None:
    """Reads a check will make that depend on nothing it reads before them: while prefetching
    they begin now, each in a thread of its own (one round, not one each, on the run's
    critical path); when the check is judged it asks for them in its own order as ever and
    finds them in memory. Otherwise nothing: the check's order is the run's."""
    stops = getattr(_THREAD, "prefetching", None)
    if stops is not None:
        for read in reads:
            threading.Thread(target=_warm, args=(read, stops), name="prefetch-ahead").start()


def _warm(read: Callable[[], Any], stops: tuple[threading.Event, ...]) -> None:
    with prefetching(*stops), suppress(Exception):  # the check's own thread meets a failure
        read()


def collected(
    service: str,
    absent: tuple[str, ...] = (),
    reads: tuple[str, ...] = (),
    *,
    sequential: bool = False,
    recorded: bool = True,
) -> Callable[[F], F]:
    """Collect once per run; a failure is cached and re-raised as CollectionError.

    An AWS error whose code is in ``absent`` says the resource does not exist: a fact, so the
    collection is None and the checks judge it (never an error). ``reads`` declares the AWS
    operations the collection calls (``Op`` of ``service``, or ``service:Op`` of another):
    the checker's IAM policy is generated from them. Threads may collect at once (each key
    is collected once); a ``sequential`` collection is left to the checks' own order, and
    is not shared with a fleet's other deployments. One not ``recorded`` is kept out of the
    snapshot (the collections made from it are in it, and a replay reads those).
    """
    DECLARED_READS.update(r if ":" in r else iam_action(service, r) for r in reads)
    in_order = sequential or service in SEQUENTIAL_SERVICES
    shareable = not (in_order or service in OWN_SERVICES)

    def decorate(fn: F) -> F:
        if not recorded:
            UNRECORDED.add(fn.__name__)

        @functools.wraps(fn)
        def wrapper(self: Any, *args: str) -> Any:
            key = cache_key(fn.__name__, *args)
            cache = self._cache
            if key not in cache:
                stops = getattr(_THREAD, "prefetching", None)
                if stops is not None and (in_order or any(e.is_set() for e in stops)):
                    raise Deferred(key)
                with _flight(self, key):
                    if key not in cache:
                        shared = getattr(self, "shared", None) if shareable else None
                        cache[key] = (
                            _collect(fn, self, args, key, service, absent)
                            if shared is None
                            else _shared_collect(shared, fn, self, args, key, service, absent)
                        )
            value = cache[key]
            if isinstance(value, CollectionError):
                raise value
            return value

        return wrapper  # type: ignore[return-value]

    return decorate


def _shared_collect(
    shared: SharedReads,
    fn: Callable[..., Any],
    owner: Any,
    args: tuple[str, ...],
    key: str,
    service: str,
    absent: tuple[str, ...],
) -> Any:
    """The answer another deployment of the account got, or this one's, kept for them."""
    with _flight(shared, key):
        if key in shared._cache:
            return shared._cache[key]
        got = _collect(fn, owner, args, key, service, absent)
        if not (isinstance(got, CollectionError) and got.kind in PASSING):
            shared._cache[key] = got
        return got


def _collect(
    fn: Callable[..., Any],
    owner: Any,
    args: tuple[str, ...],
    key: str,
    service: str,
    absent: tuple[str, ...],
) -> Any:
    if owner.session is None:
        return CollectionError("not-recorded", f"{key} is not in the snapshot")
    try:
        return fn(owner, *args)
    except ClientError as exc:
        return None if error_code(exc) in absent else classify(service, exc)
    except BotoCoreError as exc:
        return classify(service, exc)
    except CollectionError as exc:
        return exc


_INNER_CODE = re.compile(r"<Code>([\w.]+)</Code>")


def error_code(exc: ClientError) -> str:
    """The error's code; an HTTP status with an XML error inside (moto's REST answers to
    IAM denials) gives the inner code."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    inner = _INNER_CODE.search(str(error.get("Message", ""))) if code.isdigit() else None
    return inner[1] if inner else code
