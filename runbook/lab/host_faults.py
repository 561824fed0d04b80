"""Faults inside the lab's hosts: the real sshd and MariaDB broken one way, and put back.

Each names the checks that must fail (the deployment is wrong) and those that must end in
could-not-check (the checker cannot see). The lab's one sshd plays both hosts, so a fault in
SSH itself reaches the checks of both.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runbook.aws.session import AwsSession
from runbook.lab import hosts
from runbook.profile import Profile

DB_HOST = frozenset(
    {
        "database_host_mysql_installed_at_profile_version",
        "database_host_mysql_enabled_at_boot",
        "database_host_mysql_active_and_listening",
    }
)
AS_NOTIFIER = frozenset(
    {
        "notifier_databases_exist_utf8mb4_bin",
        "notifier_user_host_is_profile_network",
        "notifier_user_has_all_privileges_on_both_databases",
    }
)
LOGIN = "notifier_logs_in_through_access_host_at_profile_version"
REACH = "access_host_reaches_database_port"
ACCESS = AS_NOTIFIER | {LOGIN, REACH}


@dataclass
class HostLab:
    state_dir: Path
    profile: Profile
    session: AwsSession  # writable: the lab's own hand

    @property
    def folder(self) -> Path:
        return hosts.folder(self.state_dir)

    def account(self) -> str:
        return f"'notifier'@'{self.profile.database.mysql_user_host}'"


@dataclass(frozen=True)
class HostFault:
    name: str
    doc: str
    breaks: frozenset[str]
    errors: frozenset[str]
    apply: Callable[[HostLab], Any]
    undo: Callable[[HostLab, Any], None]


HOST_FAULTS: dict[str, HostFault] = {}


def host_fault(
    *, breaks: frozenset[str] | set[str] = frozenset(), errors: frozenset[str] = frozenset()
) -> Callable[[type], type]:
    """Register a class with ``apply(lab) -> saved`` and ``undo(lab, saved)`` as a fault."""

    def register(cls: type) -> type:
        HOST_FAULTS[cls.__name__] = HostFault(
            cls.__name__, cls.__doc__ or "", frozenset(breaks), errors, cls.apply, cls.undo
        )
        return cls

    return register


@host_fault(
    breaks={"database_host_mysql_active_and_listening", REACH}, errors=AS_NOTIFIER | {LOGIN}
)
class mysql_stopped:
    """The MySQL server is not running on the database host."""

    @staticmethod
    def apply(lab: HostLab) -> None:
        hosts.stop_mariadb(lab.state_dir)

    @staticmethod
    def undo(lab: HostLab, _: Any) -> None:
        hosts.start_mariadb(lab.state_dir, lab.profile)


@host_fault(
    breaks={"database_host_mysql_active_and_listening", REACH}, errors=AS_NOTIFIER | {LOGIN}
)
class mysql_on_another_address:
    """MySQL listens only on an address the others do not dial (bind-address = 127.0.0.1 on
    a real host): running, but the access host's connection is refused."""

    @staticmethod
    def apply(lab: HostLab) -> None:
        hosts.stop_mariadb(lab.state_dir)
        hosts.start_mariadb(lab.state_dir, lab.profile, bind="127.0.0.2")

    @staticmethod
    def undo(lab: HostLab, _: Any) -> None:
        hosts.stop_mariadb(lab.state_dir)
        hosts.start_mariadb(lab.state_dir, lab.profile)


@host_fault(breaks={"notifier_user_host_is_profile_network"})
class user_for_any_host:
    """The notifier's user was created for host '%' instead of the VPC's network."""

    @staticmethod
    def apply(lab: HostLab) -> None:
        hosts.admin_sql(lab.state_dir, f"RENAME USER {lab.account()} TO 'notifier'@'%'")

    @staticmethod
    def undo(lab: HostLab, _: Any) -> None:
        hosts.admin_sql(lab.state_dir, f"RENAME USER 'notifier'@'%' TO {lab.account()}")


@host_fault(
    breaks={"notifier_user_has_all_privileges_on_both_databases"},
    errors=frozenset({"notifier_databases_exist_utf8mb4_bin"}),  # hidden without a grant
)
class test_database_grant_missing:
    """No grant on the _test database."""

    @staticmethod
    def apply(lab: HostLab) -> None:
        hosts.admin_sql(
            lab.state_dir,
            f"REVOKE ALL PRIVILEGES ON `wikidot_notifier_test`.* FROM {lab.account()}",
        )

    @staticmethod
    def undo(lab: HostLab, _: Any) -> None:
        hosts.admin_sql(
            lab.state_dir, f"GRANT ALL PRIVILEGES ON `wikidot_notifier_test`.* TO {lab.account()}"
        )


@host_fault(breaks={"notifier_databases_exist_utf8mb4_bin"})
class database_general_collation:
    """The main database created with the server's default collation."""

    @staticmethod
    def apply(lab: HostLab) -> None:
        hosts.admin_sql(
            lab.state_dir, "ALTER DATABASE `wikidot_notifier` COLLATE utf8mb4_general_ci"
        )

    @staticmethod
    def undo(lab: HostLab, _: Any) -> None:
        hosts.admin_sql(lab.state_dir, "ALTER DATABASE `wikidot_notifier` COLLATE utf8mb4_bin")


@host_fault(breaks={LOGIN}, errors=AS_NOTIFIER)
class wrong_password_in_secret:
    """The secret's mysql_password is not the user's password."""

    @staticmethod
    def apply(lab: HostLab) -> str:
        sm = lab.session.client("secretsmanager")
        saved = sm.get_secret_value(SecretId=lab.profile.secret.name)["SecretString"]
        value = {**json.loads(saved), "mysql_password": "canary-wrong-password-0d4f"}
        sm.put_secret_value(SecretId=lab.profile.secret.name, SecretString=json.dumps(value))
        return saved

    @staticmethod
    def undo(lab: HostLab, saved: str) -> None:
        lab.session.client("secretsmanager").put_secret_value(
            SecretId=lab.profile.secret.name, SecretString=saved
        )


@host_fault(errors=DB_HOST | ACCESS)
class access_key_refused:
    """The hosts no longer accept the checker's SSH key."""

    @staticmethod
    def apply(lab: HostLab) -> bytes:
        keys = lab.folder / "authorized_keys"
        saved = keys.read_bytes()
        keys.write_bytes(b"")
        return saved

    @staticmethod
    def undo(lab: HostLab, saved: bytes) -> None:
        (lab.folder / "authorized_keys").write_bytes(saved)


@host_fault(errors=ACCESS)
class forwarding_refused:
    """The access host's sshd refuses TCP forwarding: the checker cannot go through it."""

    @staticmethod
    def apply(lab: HostLab) -> None:
        hosts.reload_sshd(lab.state_dir, extra="PermitOpen 127.0.0.1:1\n")

    @staticmethod
    def undo(lab: HostLab, _: Any) -> None:
        hosts.reload_sshd(lab.state_dir)


@host_fault(errors=DB_HOST | ACCESS)
class host_key_changed:
    """The hosts answer with a host key other than the one recorded in known_hosts."""

    @staticmethod
    def apply(lab: HostLab) -> Path:
        folder = lab.folder
        saved = folder / "host_key.saved"
        shutil.copy(folder / "host_key", saved)
        shutil.copy(folder / "host_key.pub", folder / "host_key.pub.saved")
        (folder / "host_key").unlink()
        (folder / "host_key.pub").unlink()
        hosts.new_key(folder / "host_key")
        hosts.reload_sshd(lab.state_dir)
        return saved

    @staticmethod
    def undo(lab: HostLab, saved: Path) -> None:
        folder = lab.folder
        shutil.move(saved, folder / "host_key")
        shutil.move(folder / "host_key.pub.saved", folder / "host_key.pub")
        hosts.reload_sshd(lab.state_dir)
