"""The one place AWS sessions are made: read-only guard, retries, time-outs and the call log.

Credentials come from boto3's standard chain and the endpoint from ``AWS_ENDPOINT_URL``, so
the same code runs against the lab or a real account.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config

from runbook.errors import ReadOnlyViolation

READ_PREFIXES = ("Describe", "Get", "List", "BatchGet", "Filter", "Lookup", "Search")
# Reads whose names don't say so. Kept short on purpose: anything else must be a clear read.
READ_ALLOW = frozenset({"sts:GetCallerIdentity"})
# Calls whose names look like reads but change state or hand out credentials.
READ_DENY = frozenset(
    {"ecr:GetAuthorizationToken", "sts:GetSessionToken", "sts:GetFederationToken"}
)


def is_read(service: str, operation: str) -> bool:
    """Whether ``service:Operation`` only reads."""
    name = f"{service}:{operation}"
    if name in READ_DENY:
        return False
    return name in READ_ALLOW or operation.startswith(READ_PREFIXES)


@dataclass
class CallLog:
    """Counts API calls (and attempts, which include retries) per ``service:Operation``."""

    calls: Counter[str] = field(default_factory=Counter)
    attempts: Counter[str] = field(default_factory=Counter)

    @property
    def retries(self) -> Counter[str]:
        return self.attempts - self.calls

    def mutating(self) -> Counter[str]:
        return Counter({k: v for k, v in self.calls.items() if not is_read(*k.split(":", 1))})


@dataclass
class AwsSession:
    """boto3 clients for one run, all sharing the guard and the call log."""

    region: str
    writable: bool
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    max_attempts: int = 5
    log: CallLog = field(default_factory=CallLog)
    # Writes a read-only session may still make, each with the test its parameters must pass.
    permits: dict[str, Any] = field(default_factory=dict, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _boto: boto3.Session | None = field(default=None, repr=False)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            if self._boto is None:
                core = botocore.session.get_session()
                core.register_component("data_loader", _shared_loader())
                self._boto = boto3.Session(botocore_session=core, region_name=self.region)
            client = self._boto.client(
                service,
                region_name=self.region,
                config=Config(
                    retries={"mode": "adaptive", "total_max_attempts": self.max_attempts},
                    connect_timeout=self.connect_timeout,
                    read_timeout=self.read_timeout,
                    user_agent_extra="notifier-runbook",
                ),
            )
            client.meta.events.register(
                "before-parameter-build.*", partial(self._check_permit, service)
            )
            client.meta.events.register("before-call.*", partial(self._before_call, service))
            client.meta.events.register("before-send.*", partial(self._before_send, service))
            self._clients[service] = client
        return self._clients[service]

    def permit(self, operation: str, allows: Any) -> None:
        """Let a read-only session make one write, when ``allows(params)`` says so."""
        self.permits[operation] = allows

    def _check_permit(self, service: str, model: Any, params: Any, **_: Any) -> None:
        """A permitted write goes ahead only with the parameters its permit allows."""
        name = f"{service}:{model.name}"
        allows = self.permits.get(name)
        if not self.writable and allows is not None and not allows(params):
            raise ReadOnlyViolation(f"verify is read-only: refused {name} with these parameters")

    def _before_call(self, service: str, model: Any, **_: Any) -> None:
        name = f"{service}:{model.name}"
        if not self.writable and not is_read(service, model.name) and name not in self.permits:
            raise ReadOnlyViolation(
                f"verify is read-only: refused {service}:{model.name} "
                "(run with --mode perform to change the deployment)"
            )
        self.log.calls[name] += 1

    def _before_send(self, service: str, event_name: str, **_: Any) -> None:
        self.log.attempts[f"{service}:{event_name.rsplit('.', 1)[-1]}"] += 1


@functools.cache
def _shared_loader() -> botocore.loaders.Loader:
    """Service models are read once per process, not once per session (they are large)."""
    return botocore.loaders.create_loader()


def open_session(
    region: str,
    *,
    writable: bool = False,
    connect_timeout: float = 5.0,
    read_timeout: float = 20.0,
    max_attempts: int = 5,
) -> AwsSession:
    """A read-only session unless ``writable``; only perform code asks for writable."""
    return AwsSession(
        region=region,
        writable=writable,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_attempts=max_attempts,
    )
