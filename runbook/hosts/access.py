"""A run's access to the hosts: which SSH destination is which host, the database's power.

On the real deployment the database instance is stopped 55 minutes of every hour. Host checks
on a stopped instance are skipped, unless the run was asked to start it: then it is started
(the only writes a verify run makes, allowed by the session's guard for that instance only),
checked, and always stopped again when the run closes.
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from runbook import instances as L
from runbook.aws.collected import CollectionError, classify
from runbook.aws.session import AwsSession

if TYPE_CHECKING:
    from runbook.hosts.connect import Connections
from runbook.profile import Profile
from runbook.redact import remember

RETRY_S = 2.0
# The only writes a verify run may make, and only with --start-database (see _start).
START_STOP = ("ec2:StartInstances", "ec2:StopInstances")


@dataclass
class HostAccess:
    profile: Profile
    session: AwsSession
    start_database: bool = False
    started: str | None = None  # the instance this run started, to stop again
    start_failure: CollectionError | None = None  # why it could not be started
    _connections: Connections | None = field(default=None, init=False, repr=False)

    @property
    def connections(self) -> Connections:
        """SSH connections, made when a host check first needs one: paramiko is imported
        then, not by a run that checks no host (-m "not hosts", the nightly smoke)."""
        if self._connections is None:
            from runbook.hosts.connect import Connections

            self._connections = Connections(self.profile.hosts)
        return self._connections

    def database_address(self, inv: Any) -> str:
        """Where MySQL answers: the instance's private IP, or the Aurora cluster endpoint."""
        p = self.profile
        if p.variants.aurora:
            cluster = inv.db_cluster(p.database.cluster)
            if not cluster or not cluster.get("Endpoint"):
                raise CollectionError("missing", f"Aurora cluster {p.database.cluster!r} not found")
            return cluster["Endpoint"]
        return self._instance(inv)["PrivateIpAddress"]

    def default_destination(self, inst: dict[str, Any]) -> str:
        """An instance's SSH destination when the profile names none: its private address,
        or through an Instance Connect Endpoint or Session Manager its id (``Host i-*`` with a
        ProxyCommand, as AWS documents both)."""
        if self.profile.variants.access_host in L.TUNNELLED:
            return str(inst["InstanceId"])
        return str(inst["PrivateIpAddress"])

    def database_destination(self, inv: Any) -> str:
        """The database host's SSH destination, once it runs (or this run started it)."""
        inst = self._instance(inv)
        name = self.profile.hosts.database_host or self.default_destination(inst)
        self.database_running(inv, name)
        return name

    def database_running(self, inv: Any, name: str | None = None) -> None:
        """A stopped EC2 database is skipped, or started when the run may (Aurora: nothing)."""
        if self.profile.variants.aurora:
            return
        inst = self._instance(inv)
        state = inst["State"]["Name"]
        if self.start_failure is not None:  # check needing it ends in the same error, tried once
            raise self.start_failure
        if state == "running" or self.started == inst["InstanceId"]:
            return
        if not self.start_database:
            raise CollectionError(
                "skip",
                f"the database instance {inst['InstanceId']} is {state}: pass "
                "--start-database to start it for the checks (it is stopped again after)",
            )
        self._start(
            inst["InstanceId"],
            name or self.profile.hosts.database_host or self.default_destination(inst),
        )

    def access_running(self, inv: Any) -> dict[str, Any]:
        """The access host, once it runs: the database instance (when it is the host an
        endpoint or Session Manager reaches) is started as the database is; another stopped
        host is skipped."""
        host = L.access_host(inv, self.profile)
        if host is None:
            raise CollectionError("missing", "the access host does not exist")
        db = None if self.profile.variants.aurora else L.db_instance(inv, self.profile)
        if db is not None and db["InstanceId"] == host["InstanceId"]:
            self.database_running(inv, self.profile.hosts.access_host)
            return host
        state = host["State"]["Name"]
        if state != "running":
            raise CollectionError(
                "skip", f"the access host {host['InstanceId']} is {state}: start it to check"
            )
        return host

    def access_destination(self, inv: Any) -> str:
        host = self.access_running(inv)
        return self.profile.hosts.access_host or self.default_destination(host)

    def notifier_credentials(self) -> tuple[str, str]:
        """The notifier's MySQL user and password, read now from the secret, kept nowhere."""
        name = self.profile.secret.name
        sm = self.session.client("secretsmanager")
        try:
            value = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])
            remember(str(value["mysql_password"]))
            return str(value["mysql_username"]), str(value["mysql_password"])
        except (ClientError, BotoCoreError) as exc:  # judged as the secret's read, not MySQL's
            raise classify("secretsmanager", exc) from None
        except (KeyError, TypeError, ValueError):
            raise CollectionError(
                "missing", f"secret {name!r} holds no mysql_username/mysql_password"
            ) from None

    def close(self) -> None:
        """Stop what this run started, then close the connections: always, even on errors.
        Ctrl-C and TERM are held off while the stop is sent; a stop that fails is raised."""
        try:
            if self.started:
                with signals_held():
                    self._stop(self.started)
                self.started = None
        finally:
            if self._connections is not None:
                self._connections.close()

    def _stop(self, instance_id: str) -> None:
        ec2 = self.session.client("ec2")
        try:
            ec2.stop_instances(InstanceIds=[instance_id])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "IncorrectInstanceState":
                raise
            # still pending (interrupted during the boot): wait until it runs, then stop it
            ec2.get_waiter("instance_running").wait(
                InstanceIds=[instance_id], WaiterConfig={"Delay": 5, "MaxAttempts": 60}
            )
            ec2.stop_instances(InstanceIds=[instance_id])

    def _instance(self, inv: Any) -> dict[str, Any]:
        inst = L.db_instance(inv, self.profile)
        if inst is None:
            raise CollectionError(
                "missing", f"database instance {self.profile.database.instance_name!r} not found"
            )
        return inst

    def _start(self, instance_id: str, name: str) -> None:
        def only_this(params: dict[str, Any]) -> bool:
            return params.get("InstanceIds") == [instance_id]

        for action in START_STOP:
            self.session.permit(action, only_this)
        ec2 = self.session.client("ec2")
        self.started = instance_id  # before the call: an interrupt inside it still stops it
        try:
            got = ec2.start_instances(InstanceIds=[instance_id])["StartingInstances"]
        except (ClientError, BotoCoreError) as exc:  # e.g. ec2:StartInstances denied
            self.started = None
            self.start_failure = classify("ec2", exc)
            raise self.start_failure from None
        if got and got[0].get("PreviousState", {}).get("Name") not in ("stopped", "stopping"):
            self.started = None  # it was already starting (the hourly run): not ours to stop
        wait = self.profile.hosts.start_wait_s
        deadline = time.monotonic() + wait
        try:
            ec2.get_waiter("instance_running").wait(
                InstanceIds=[instance_id],
                WaiterConfig={"Delay": 5, "MaxAttempts": max(1, math.ceil(wait / 5))},
            )
        except WaiterError as exc:  # still started: close() stops it
            self.start_failure = CollectionError(
                "unreachable",
                f"database instance {instance_id} not running after {wait:g} s ({exc})",
            )
            raise self.start_failure from None
        while True:  # running is not yet answering SSH: sshd starts late in the boot
            try:
                self.connections.client(name)
                return
            except CollectionError as exc:
                if exc.kind != "unreachable" or time.monotonic() > deadline:
                    raise
                time.sleep(RETRY_S)


@contextmanager
def signals_held() -> Iterator[None]:
    """INT and TERM wait until the block is done, then go to the handlers that were there.

    Held by the Python handlers, not by the thread's signal mask: the kernel gives a signal
    the main thread blocks to another thread of the process (a prefetching one), and Python
    then runs the handler in the main thread all the same, inside the block. Off the main
    thread (a fleet's deployment) nothing is held: the fleet's own handlers raise nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    before = {
        signum: signal.signal(signum, lambda signum, _: got.append(signum)) for signum in held
    }
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        if got:
            signal.raise_signal(got[0])
