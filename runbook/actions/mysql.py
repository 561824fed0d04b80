"""Perform inside the database: the notifier's databases, user and grants (notifier-database.md).

Done over the same SSH tunnel the checks use, as an administrator whose credentials are given
at run time ($RUNBOOK_MYSQL_ADMIN_USER / $RUNBOOK_MYSQL_ADMIN_PASSWORD, or a prompt on a
terminal), never stored or printed. The notifier's password is read from the secret at the
moment it is needed. Installing MySQL on the host stays a manual step.
"""

from __future__ import annotations

import getpass
import os

import pymysql

from runbook import redact
from runbook.actions.base import Action, Ctx, Manual, fixes, manual
from runbook.aws.inventory import Inventory
from runbook.errors import UsageError
from runbook.profile import Profile
from runbook.redact import remember

ADMIN_USER_ENV = "RUNBOOK_MYSQL_ADMIN_USER"
ADMIN_PASSWORD_ENV = redact.ADMIN_PASSWORD_ENV

INSTALL = (
    "on the database host (the guide, 'Creating the database > On an EC2'): "
    "sudo yum install https://dev.mysql.com/get/mysql80-community-release-el7-5.noarch.rpm; "
    "sudo yum install mysql-community-server; sudo systemctl enable --now mysqld; then set "
    "the root password (sudo grep 'temporary password' /var/log/mysqld.log)"
)
fixes("database_host_mysql_installed_at_profile_version")(manual(INSTALL))
fixes("database_host_mysql_enabled_at_boot")(
    manual("on the database host: sudo systemctl enable mysqld")
)
fixes("database_host_mysql_active_and_listening")(
    manual("on the database host: sudo systemctl start mysqld; check /var/log/mysqld.log")
)


def admin_credentials() -> tuple[str, str]:
    user = os.environ.get(ADMIN_USER_ENV, "root")
    password = os.environ.get(ADMIN_PASSWORD_ENV)
    if password is None and _terminal():  # getpass asks on /dev/tty, past pytest's capture
        password = getpass.getpass(f"MySQL password of {user} (not stored): ")
    remember(password)
    if password is None:
        raise UsageError(
            f"perform needs the MySQL administrator's password: set {ADMIN_PASSWORD_ENV} "
            f"(and {ADMIN_USER_ENV} if not root) or run on a terminal to be asked"
        )
    return user, password


def _terminal() -> bool:
    try:
        with open("/dev/tty"):
            return True
    except OSError:
        return False


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


@fixes(
    "notifier_databases_exist_utf8mb4_bin",
    "notifier_user_host_is_profile_network",
    "notifier_user_has_all_privileges_on_both_databases",
    "notifier_logs_in_through_access_host_at_profile_version",
)
def notifier_account(inv: Inventory, p: Profile) -> list[Action | Manual]:
    dbs = ", ".join(p.database.mysql_databases)
    account = f"'<mysql_username>'@'{p.database.mysql_user_host}'"

    def apply(ctx: Ctx) -> None:
        access = ctx.inv.hosts
        assert access is not None
        admin, admin_password = admin_credentials()
        user, password = access.notifier_credentials()
        db = access.database_address(ctx.inv)
        channel = access.connections.tunnel(
            access.access_destination(ctx.inv), db, p.database.mysql_port
        )
        conn = pymysql.connect(
            host=db,
            user=admin,
            password=admin_password,
            defer_connect=True,
            connect_timeout=p.hosts.timeout_s,
            read_timeout=p.hosts.timeout_s,
        )
        who = "%s@%s"
        try:
            conn.connect(sock=channel)
            with conn.cursor() as cur:
                for name in p.database.mysql_databases:
                    for verb in ("CREATE DATABASE IF NOT EXISTS", "ALTER DATABASE"):
                        cur.execute(
                            f"{verb} {_quoted(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                        )
                args = (user, p.database.mysql_user_host)
                cur.execute(f"CREATE USER IF NOT EXISTS {who} IDENTIFIED BY %s", (*args, password))
                cur.execute(f"ALTER USER {who} IDENTIFIED BY %s", (*args, password))
                for name in p.database.mysql_databases:
                    cur.execute(f"GRANT ALL PRIVILEGES ON {_quoted(name)}.* TO {who}", args)
        except pymysql.MySQLError as exc:  # its message may quote a statement: keep the code
            code = exc.args[0] if exc.args else "?"
            raise RuntimeError(
                f"MySQL refused the change (error {code}); run the statements of "
                "notifier-database.md by hand"
            ) from None
        finally:
            conn.close()
            channel.close()

    return [
        Action(
            f"in MySQL, as the administrator, through the access host: create {dbs} "
            f"(utf8mb4, utf8mb4_bin) if missing, create {account} with the secret's password "
            "if missing (other accounts of the user, e.g. @'%', are left: drop them by hand), "
            "and grant it ALL PRIVILEGES on each",
            apply,
            (
                *(
                    f"mysql CREATE DATABASE IF NOT EXISTS {_quoted(n)} CHARACTER SET utf8mb4 "
                    "COLLATE utf8mb4_bin"
                    for n in p.database.mysql_databases
                ),
                f"mysql CREATE USER IF NOT EXISTS {account} IDENTIFIED BY '<not shown>'",
                *(
                    f"mysql GRANT ALL PRIVILEGES ON {_quoted(n)}.* TO {account}"
                    for n in p.database.mysql_databases
                ),
            ),
        )
    ]
