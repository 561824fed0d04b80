"""Inside the hosts: the MySQL server on the database host, and MySQL seen from the access host.

Reached over SSH by the inventory (testinfra on the database host; a tunnel through the
access host carrying the notifier's own login). A host that cannot be reached, refuses the
key or changed its host key is *could not check*; MySQL refusing the notifier or not being
reachable from the access host is a *fail* of the check that says so.
"""

from __future__ import annotations

import re
from typing import Any

from runbook.findings import Outcome, Status, judged
from runbook.registry import check
from runbook.sections import database_is

PRIVILEGES = ("ALL PRIVILEGES", "ALL")
GRANT = re.compile(r"^GRANT (?P<privs>.+?) ON (?P<on>\S+) TO ", re.IGNORECASE)


def version_matches(expected: str, actual: str | None) -> bool:
    """``8.0.33`` matches ``8.0.33-0ubuntu`` and ``1:8.0.33-1.el7``; ``10.11`` matches 10.11.x."""
    if not actual:
        return False
    numbers = re.match(r"(?:\d+:)?(\d+(?:\.\d+)*)", actual)
    if numbers is None:
        return False
    want = expected.split(".")
    return numbers.group(1).split(".")[: len(want)] == want


def granted_databases(grants: list[str]) -> dict[str, str]:
    """Database -> privileges from SHOW GRANTS lines, whatever their quoting and escaping."""
    out: dict[str, str] = {}
    for line in grants:
        m = GRANT.match(line.strip())
        if not m:
            continue
        on = m.group("on").replace("`", "").replace('"', "")
        database, _, table = on.rpartition(".")
        if table != "*":
            continue
        out[database.replace("\\_", "_").replace("\\%", "%")] = m.group("privs").upper()
    return out


def _holds_all(privileges: str | None) -> bool:
    return privileges is not None and privileges.strip() in PRIVILEGES


def _login_needed(facts: dict[str, Any]) -> Outcome | None:
    """Schema and grants are read as the notifier: no login, nothing to judge them on."""
    if not facts.get("login", {}).get("ok"):
        return Outcome(Status.ERROR, "could not check: the notifier's login to MySQL failed")
    return None


@check(
    id="database_host_mysql_installed_at_profile_version",
    section="database_ec2",
    says="the database host has the MySQL server installed at the profile's version",
    guide="install MySQL Community Server (8.0.33; 5.7 on older setups) on the instance",
    applies=database_is("ec2"),
    severity="high",
    risk="another MySQL version may not read the data or serve the notifier",
)
def mysql_installed(inv: Any, p: Any) -> Outcome:
    facts = inv.database_host()
    return judged(
        facts["installed"] and version_matches(p.database.mysql_version, facts["version"]),
        f"package {facts['package']}",
        expected={"installed": True, "version": p.database.mysql_version},
        actual={"installed": facts["installed"], "version": facts["version"]},
        evidence={"host": facts["host"]},
    )


@check(
    id="database_host_mysql_enabled_at_boot",
    section="database_ec2",
    says="the MySQL service on the database host is enabled at boot",
    guide="sudo systemctl enable mysqld",
    applies=database_is("ec2"),
    severity="high",
    risk="the instance starts every hour: if MySQL does not start with it, every run fails",
)
def mysql_enabled(inv: Any, p: Any) -> Outcome:
    facts = inv.database_host()
    return judged(
        bool(facts["enabled"]),
        f"service {facts['service']} enabled",
        expected=True,
        actual=facts["enabled"],
        evidence={"host": facts["host"]},
    )


@check(
    id="database_host_mysql_active_and_listening",
    section="database_ec2",
    says="the MySQL server on the database host is running and listening on its port",
    guide="sudo systemctl start mysqld",
    applies=database_is("ec2"),
    severity="high",
    risk="no MySQL listening on the instance: every run fails",
)
def mysql_running(inv: Any, p: Any) -> Outcome:
    facts = inv.database_host()
    actual = {"server processes": facts["processes"], "listening": facts["listening"]}
    return judged(
        bool(facts["processes"]) and facts["listening"],
        f"MySQL server running and listening on TCP {p.database.mysql_port}",
        expected={"server processes": "mysqld or mariadbd", "listening": True},
        actual=actual,
        evidence={"host": facts["host"]},
    )


@check(
    id="access_host_reaches_database_port",
    section="database_access",
    says="the database answers on its TCP port from the access host",
    guide="Accessing the database: the database group admits TCP 3306 from the access host",
    severity="high",
    risk="the database does not answer on its port inside the VPC: the notifier's runs fail too",
)
def reaches_database(inv: Any, p: Any) -> Outcome:
    facts = inv.database_port_from_access_host()
    return judged(
        facts["reachable"],
        f"TCP to {facts['database']} from {facts['access_host']}",
        expected="connected",
        actual="connected" if facts["reachable"] else facts.get("reach_error"),
    )


@check(
    id="notifier_logs_in_through_access_host_at_profile_version",
    section="database_access",
    says="the notifier's credentials log in to MySQL through the access host at the profile's "
    "version",
    guide="notifier-database.md: CREATE USER with the password stored in the secret",
    severity="high",
    risk="the notifier's credentials do not log in: every run fails",
)
def notifier_logs_in(inv: Any, p: Any) -> Outcome:
    facts = inv.database_from_access_host()
    login = facts["login"]
    if not login["ok"]:
        denied = login.get("code") == 1045
        return judged(
            False,
            f"MySQL {'refused' if denied else 'failed'} the login of {facts['user']!r} "
            "with the secret's password",
            expected="login succeeds",
            actual=login.get("error"),
        )
    return judged(
        version_matches(p.database.mysql_version, facts["version"]),
        "login succeeded; SELECT VERSION()",
        expected=p.database.mysql_version,
        actual=facts["version"],
    )


@check(
    id="notifier_databases_exist_utf8mb4_bin",
    section="database_access",
    says="both notifier databases exist with utf8mb4 and utf8mb4_bin",
    guide="notifier-database.md: CREATE DATABASE ... CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
    severity="high",
    risk="without its databases, or with another collation, the notifier fails or compares "
    "names wrongly",
)
def databases_exist(inv: Any, p: Any) -> Outcome:
    facts = inv.database_from_access_host()
    blocked = _login_needed(facts)
    if blocked:
        return blocked
    want = {"charset": "utf8mb4", "collation": "utf8mb4_bin"}
    expected = {name: want for name in p.database.mysql_databases}
    actual = {name: facts["schemas"].get(name) for name in p.database.mysql_databases}
    # MySQL hides a database from a user without privileges on it: absent is not missing.
    granted = granted_databases(facts["grants"])

    def privileged(on: str) -> bool:
        return granted.get(on, "USAGE") != "USAGE"

    hidden = [n for n, v in actual.items() if v is None and not (privileged(n) or privileged("*"))]
    if hidden and all(v == want for n, v in actual.items() if n not in hidden):
        return Outcome(
            Status.ERROR,
            f"could not check {', '.join(hidden)}: the notifier's user holds no privilege on "
            "it, so MySQL does not show it (see the grants check)",
            expected=expected,
            actual=actual,
        )
    return judged(actual == expected, "databases", expected=expected, actual=actual)


@check(
    id="notifier_user_host_is_profile_network",
    section="database_access",
    says="the notifier's MySQL user logs in as its account for the profile's network",
    guide="notifier-database.md: CREATE USER '<user>'@'10.0.0.0/255.0.0.0'",
    severity="high",
    risk="the notifier's user logs in from the wrong network: refused, or allowed from further "
    "than the VPC",
)
def user_host(inv: Any, p: Any) -> Outcome:
    facts = inv.database_from_access_host()
    blocked = _login_needed(facts)
    if blocked:
        return blocked
    user, _, host = str(facts["current_user"]).rpartition("@")
    return judged(
        host == p.database.mysql_user_host,
        f"the account MySQL matched for {user!r}",
        expected=f"{facts['user']}@{p.database.mysql_user_host}",
        actual=facts["current_user"],
    )


@check(
    id="notifier_user_has_all_privileges_on_both_databases",
    section="database_access",
    says="the notifier's MySQL user holds all privileges on both notifier databases",
    guide="notifier-database.md: GRANT ALL PRIVILEGES ON <db>.* TO the notifier's user",
    severity="high",
    risk="without its privileges the notifier cannot read or write its data",
)
def user_grants(inv: Any, p: Any) -> Outcome:
    facts = inv.database_from_access_host()
    blocked = _login_needed(facts)
    if blocked:
        return blocked
    granted = granted_databases(facts["grants"])
    everywhere = _holds_all(granted.get("*"))
    actual = {db: granted.get(db) for db in p.database.mysql_databases}
    ok = all(_holds_all(privs) or everywhere for privs in actual.values())
    advisories = (
        ("the user holds ALL PRIVILEGES on *.*: the guide grants only its two databases",)
        if everywhere
        else ()
    )
    return judged(
        ok,
        "grants per database",
        expected={db: "ALL PRIVILEGES" for db in p.database.mysql_databases},
        actual=actual,
        evidence={"SHOW GRANTS": facts["grants"]},
        advisories=advisories,
    )
