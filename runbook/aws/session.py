"""The one place AWS sessions are made: read-only guard, retries, time-outs and the call log.

Two guards, both below every caller: a verify session refuses every call that is not a read;
a perform (writable) session refuses every call that deletes, detaches or releases, unless it
was opened for the lab's own hand (``may_delete``) or holds a permit for that one call.

Credentials come from boto3's standard chain and the endpoint from ``AWS_ENDPOINT_URL``, so
the same code runs against the lab or a real account; a fleet's deployment may name its own
(``endpoint_url``, a named ``aws_profile``, a ``role_arn`` to assume), one session each.
"""

from __future__ import annotations

import functools
import threading
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials
from botocore.exceptions import NoCredentialsError

from runbook.aws.collected import iam_action
from runbook.errors import DeletionRefused, ReadOnlyViolation
from runbook.profile import botocore_loader

READ_PREFIXES = ("Describe", "Get", "List", "BatchGet", "Filter", "Lookup", "Search")
# Reads whose names don't say so. Kept short on purpose: anything else must be a clear read.
# IAM's policy simulator evaluates the policies it is given and changes nothing.
READ_ALLOW = frozenset({"sts:GetCallerIdentity", "iam:SimulatePrincipalPolicy"})
# Calls whose names look like reads but change state or hand out credentials.
READ_DENY = frozenset(
    {"ecr:GetAuthorizationToken", "sts:GetSessionToken", "sts:GetFederationToken"}
)


# Calls that destroy what exists or undo what a person configured: resources deleted,
# terminated or released; policies, gateways, addresses or tables detached or disassociated;
# users, permissions, rules or targets removed or revoked. Perform only creates, adds and sets;
# what must go is a manual step of its plan.
DESTRUCTIVE_PREFIXES = (
    "Delete",
    "BatchDelete",
    "Terminate",
    "Release",
    "Deregister",
    "Detach",
    "Disassociate",
    "Remove",
    "Revoke",
    "Purge",
    "Unassign",
)
DESTRUCTIVE_DENY = frozenset({"kms:ScheduleKeyDeletion"})
# Removals that are configuration steps of the guide, not deletions of a resource: a rule of
# one of the guide's security groups that the guide does not have (the default all-traffic
# outbound rule of the internet group among them: the guide's groups are the deployment's own),
# and a trigger rule's targets other than its runner. Kept short on purpose.
FIX_ALLOW = frozenset(
    {"ec2:RevokeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress", "events:RemoveTargets"}
)


def is_read(service: str, operation: str) -> bool:
    """Whether ``service:Operation`` only reads."""
    name = f"{service}:{operation}"
    if name in READ_DENY:
        return False
    return name in READ_ALLOW or operation.startswith(READ_PREFIXES)


@functools.cache
def verify_reads() -> frozenset[str]:
    """The IAM actions a verify session may call: exactly the reads the collections declare
    (what the checker's generated policy is made of), and asking who the caller is. A read
    by name (``Get...``) that no collection declares is refused like a write."""
    import runbook.aws.inventory  # noqa: F401  (every collection declares its reads on import)
    from runbook.aws.collected import DECLARED_READS

    return frozenset(DECLARED_READS | READ_ALLOW) - READ_DENY


def is_destructive(service: str, operation: str) -> bool:
    """Whether ``service:Operation`` deletes, detaches or releases (what perform never does)."""
    name = f"{service}:{operation}"
    if name in FIX_ALLOW:
        return False
    return name in DESTRUCTIVE_DENY or operation.startswith(DESTRUCTIVE_PREFIXES)


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


# A client's connections kept open: as many as the reads a run may have in flight at once
# (runbook/run.py's PREFETCH_THREADS), else urllib3 discards the extra ones, warning each time.
POOL_CONNECTIONS = 32


@dataclass
class AwsSession:
    """boto3 clients for one run, all sharing the guard and the call log."""

    region: str
    writable: bool
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    max_attempts: int = 5
    # The lab's own hand (fault injection): a writable session that may also delete.
    may_delete: bool = False
    # A fleet's deployment: its own endpoint, named AWS profile and role (None: the process's).
    endpoint_url: str | None = None
    aws_profile: str | None = None
    role_arn: str | None = None
    log: CallLog = field(default_factory=CallLog)
    # Writes a read-only session may still make, each with the test its parameters must pass.
    permits: dict[str, Any] = field(default_factory=dict, repr=False)
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)
    _boto: boto3.Session | None = field(default=None, repr=False)
    # Clients are shared by threads (botocore's are thread-safe), made and counted under a lock
    # (boto3's sessions are not thread-safe, nor is a Counter's +=).
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def client(self, service: str, region: str | None = None) -> Any:
        """The service's client in the session's region, or in ``region`` (IAM's events are in
        its partition's home region)."""
        key = (service, region or self.region)
        with self._lock:
            return self._clients.get(key) or self._new_client(service, key)

    def _new_client(self, service: str, key: tuple[str, str]) -> Any:
        if key not in self._clients:
            if self._boto is None:
                self._boto = self._new_boto()
            client = self._boto.client(
                service,
                region_name=key[1],
                endpoint_url=self.endpoint_url,
                config=Config(
                    retries={"mode": "adaptive", "total_max_attempts": self.max_attempts},
                    connect_timeout=self.connect_timeout,
                    read_timeout=self.read_timeout,
                    user_agent_extra="notifier-runbook",
                    max_pool_connections=POOL_CONNECTIONS,
                ),
            )
            client.meta.events.register(
                "before-parameter-build.*", partial(self._check_permit, service)
            )
            client.meta.events.register("before-call.*", partial(self._before_call, service))
            client.meta.events.register("before-send.*", partial(self._before_send, service))
            self._clients[key] = client
        return self._clients[key]

    def _new_boto(self) -> boto3.Session:
        core = botocore.session.get_session()
        core.register_component("data_loader", botocore_loader())
        if self.aws_profile:
            core.set_config_variable("profile", self.aws_profile)
        if self.role_arn:
            core._credentials = _assumed(core, self)  # c7n's way: botocore's own refresher
        return boto3.Session(botocore_session=core, region_name=self.region)

    def permit(self, operation: str, allows: Any) -> None:
        """Let one call the guard refuses go ahead, when ``allows(params)`` says so: a verify
        session's start/stop of its database, or perform deleting the egress probe it made."""
        self.permits[operation] = allows

    def _refusal(self, service: str, operation: str) -> tuple[type[Exception], str] | None:
        """Why the guard stops ``service:operation`` (before any permit), or None."""
        if not self.writable and not is_read(service, operation):
            return ReadOnlyViolation, "verify is read-only"
        if not self.writable and iam_action(service, operation) not in verify_reads():
            return ReadOnlyViolation, "verify makes only the reads its collections declare"
        if self.writable and not self.may_delete and is_destructive(service, operation):
            return DeletionRefused, "perform never deletes"
        return None

    def _check_permit(self, service: str, model: Any, params: Any, **_: Any) -> None:
        """A permitted call goes ahead only with the parameters its permit allows."""
        name = f"{service}:{model.name}"
        allows = self.permits.get(name)
        refusal = self._refusal(service, model.name)
        if refusal is not None and allows is not None and not allows(params):
            error, why = refusal
            raise error(f"{why}: refused {name} with these parameters")

    def _before_call(self, service: str, model: Any, **_: Any) -> None:
        name = f"{service}:{model.name}"
        refusal = self._refusal(service, model.name)
        if refusal is not None and name not in self.permits:
            error, why = refusal
            hint = (
                "remove it by hand if it must go"
                if error is not ReadOnlyViolation
                else "declare it in its collection's reads"
                if is_read(service, model.name)
                else "run with --mode perform to change the deployment"
            )
            raise error(f"{why}: refused {name} ({hint})")
        with self._lock:
            self.log.calls[name] += 1

    def _before_send(self, service: str, event_name: str, **_: Any) -> None:
        with self._lock:
            self.log.attempts[f"{service}:{event_name.rsplit('.', 1)[-1]}"] += 1


def _assumed(core: botocore.session.Session, session: AwsSession) -> Any:
    """Credentials of ``session.role_arn``, assumed from the session's own (its named profile,
    else the standard chain) when first needed and renewed before they expire."""
    source = core.get_credentials()
    if source is None:  # said as a run without a role says it (the preflight's one line)
        raise NoCredentialsError()
    config = Config(
        connect_timeout=session.connect_timeout,
        read_timeout=session.read_timeout,
        retries={"mode": "adaptive", "total_max_attempts": session.max_attempts},
    )

    def sts_client(*args: Any, **kwargs: Any) -> Any:
        with session._lock:  # botocore's session is not thread-safe: one client made at once
            return core.create_client(
                *args, **kwargs, endpoint_url=session.endpoint_url, config=config
            )

    fetcher = AssumeRoleCredentialFetcher(
        client_creator=sts_client,
        source_credentials=source,
        role_arn=session.role_arn,
        extra_args={"RoleSessionName": "notifier-runbook"},
    )
    return DeferredRefreshableCredentials(
        method="assume-role", refresh_using=fetcher.fetch_credentials
    )


def open_session(
    region: str,
    *,
    writable: bool = False,
    may_delete: bool = False,
    connect_timeout: float = 5.0,
    read_timeout: float = 20.0,
    max_attempts: int = 5,
    endpoint_url: str | None = None,
    aws_profile: str | None = None,
    role_arn: str | None = None,
) -> AwsSession:
    """A read-only session unless ``writable``; only perform code asks for writable, and only
    the lab's own code (which breaks and resets the lab) for ``may_delete``."""
    return AwsSession(
        region=region,
        writable=writable,
        may_delete=may_delete,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_attempts=max_attempts,
        endpoint_url=endpoint_url,
        aws_profile=aws_profile,
        role_arn=role_arn,
    )
