"""Perform's lease in the account: one perform at a time per deployment, on any machine.

Two performs on an empty account (a retried CI job, two people) would create everything twice
(two VPCs, two instances with the same names), and perform never deletes. Before its first
write, perform creates an SSM parameter with ``Overwrite=False`` (atomic in AWS: exactly one
creator wins) holding its owner; a heartbeat renews it while perform runs; it is deleted when
perform ends. A lease whose heartbeat stopped (a killed perform) is past its expiry and says
so, but only ``--break-lease`` takes it: the person decides the other perform is gone.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from runbook.aws.collected import classify, error_code
from runbook.aws.session import AwsSession, open_session
from runbook.errors import CouldNotCheck
from runbook.profile import Profile

PREFIX = "/notifier-runbook/perform-lease"
TTL = timedelta(minutes=10)  # no heartbeat for this long: the holder is probably gone
HEARTBEAT_S = 60.0
WRITES = ("ssm:PutParameter", "ssm:DeleteParameter")


def parameter_name(p: Profile) -> str:
    """One lease per deployment (the profile's name) in the account and region."""
    return f"{PREFIX}/{re.sub(r'[^A-Za-z0-9_.-]', '-', p.name)}"


@dataclass
class Lease:
    """The lease this perform holds (``take``), renewed until ``release``."""

    session: AwsSession
    name: str
    owner: str
    since: str = field(default_factory=lambda: _now().isoformat(timespec="seconds"))
    _stop: threading.Event = field(default_factory=threading.Event)
    _beat: threading.Thread | None = None

    def value(self) -> str:
        now = _now()
        return json.dumps(
            {
                "owner": self.owner,
                "since": self.since,
                "heartbeat": now.isoformat(timespec="seconds"),
                "expires": (now + TTL).isoformat(timespec="seconds"),
            }
        )

    def take(self, *, break_lease: bool = False) -> str | None:
        """Hold the lease, or raise CouldNotCheck naming who holds it. With ``break_lease``,
        a held lease is taken over; the line saying whose it was is returned."""
        ssm = self.session.client("ssm")
        broken = None
        try:
            ssm.put_parameter(Name=self.name, Value=self.value(), Type="String", Overwrite=False)
        except ClientError as exc:
            if error_code(exc) != "ParameterAlreadyExists":
                raise CouldNotCheck(f"perform lease {self.name}: {classify('ssm', exc)}") from None
            held = _holder(ssm, self.name)
            if not break_lease:
                raise CouldNotCheck(
                    f"another perform holds the lease {self.name}: {held}; wait for it, or pass "
                    "--break-lease if it is gone"
                ) from None
            ssm.put_parameter(Name=self.name, Value=self.value(), Type="String", Overwrite=True)
            broken = f"broke the perform lease {self.name}: it was {held}"
        except BotoCoreError as exc:
            raise CouldNotCheck(f"perform lease {self.name}: {classify('ssm', exc)}") from None
        self._beat = threading.Thread(target=self._heartbeat, name="lease", daemon=True)
        self._beat.start()
        return broken

    def _heartbeat(self) -> None:
        ssm = self.session.client("ssm")
        while not self._stop.wait(HEARTBEAT_S):
            try:
                current = json.loads(ssm.get_parameter(Name=self.name)["Parameter"]["Value"])
                if current.get("owner") != self.owner:
                    return  # broken by someone else: never overwrite theirs
                ssm.put_parameter(Name=self.name, Value=self.value(), Overwrite=True)
            except (ClientError, BotoCoreError, ValueError):
                continue  # the next beat tries again; the expiry leaves room for a few

    def release(self) -> None:
        """Stop the heartbeat and delete the lease, if it is still ours (once)."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=10)
        ssm = self.session.client("ssm")
        try:
            current = json.loads(ssm.get_parameter(Name=self.name)["Parameter"]["Value"])
            if current.get("owner") == self.owner:
                ssm.delete_parameter(Name=self.name)
        except (ClientError, BotoCoreError, ValueError):
            pass  # gone already, or unreadable: the expiry says it is stale


def owner_of(identity: str) -> str:
    """Who takes the lease: the AWS identity, and the local user, host and process."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{identity} ({user}@{socket.gethostname()}, pid {os.getpid()})"


def lease_for(performer: AwsSession, p: Profile, identity: str) -> Lease:
    """A lease of this deployment for this perform, in a session of its own (with the
    performer's bounds) that may delete the lease only: its calls are bookkeeping, counted
    apart from the writes that change the deployment."""
    name = parameter_name(p)
    session = open_session(
        performer.region,
        writable=True,
        connect_timeout=performer.connect_timeout,
        read_timeout=performer.read_timeout,
        max_attempts=performer.max_attempts,
    )
    session.permit("ssm:DeleteParameter", lambda params: params == {"Name": name})
    return Lease(session, name, owner_of(identity))


def _holder(ssm: Any, name: str) -> str:
    try:
        held = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
        expired = datetime.fromisoformat(held["expires"]) < _now()
        return f"{held['owner']} since {held['since']}, last heartbeat {held['heartbeat']}" + (
            " (expired: its perform is probably gone)" if expired else ""
        )
    except (ClientError, BotoCoreError, ValueError, KeyError, TypeError):
        return "an unreadable lease"


def _now() -> datetime:
    return datetime.now(UTC)
