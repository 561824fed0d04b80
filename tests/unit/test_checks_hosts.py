"""Host checks on the recorded lab: each broken state fails exactly its check, access
problems end in could-not-check, and SHOW GRANTS is parsed in its several forms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from checks.hosts import granted_databases, version_matches
from runbook.aws.inventory import Inventory
from runbook.engine import evaluate
from runbook.findings import Status
from runbook.registry import CHECKS, load_checks

from .test_checks_recorded import PROFILE, changed_by, recorded

HOST = "database_host()"
ACCESS = "database_from_access_host()"
PORT = "database_port_from_access_host()"
ACCESS_CHECKS = {
    "access_host_reaches_database_port",
    "notifier_logs_in_through_access_host_at_profile_version",
    "notifier_databases_exist_utf8mb4_bin",
    "notifier_user_host_is_profile_network",
    "notifier_user_has_all_privileges_on_both_databases",
}


@pytest.mark.parametrize(
    ("expected", "actual", "ok"),
    [
        ("8.0.33", "8.0.33", True),
        ("8.0.33", "8.0.33-0ubuntu0.22.04.2", True),
        ("8.0.33", "8.0.330", False),
        ("8.0.33", "8.0.32", False),
        ("8.0", "8.0.35-log", True),
        ("5.7", "8.0.33", False),
        ("10.11", "1:10.11.19-0+deb12u1", True),
        ("10.11", "10.11.19-MariaDB-0+deb12u1", True),
        ("10.1", "10.11.19", False),
        ("8.0.33", None, False),
        ("8.0.33", "unknown", False),
    ],
)
def test_version_matches_whole_components(expected: str, actual: str | None, ok: bool) -> None:
    assert version_matches(expected, actual) is ok


def test_grants_parsed_in_mysql_and_mariadb_forms() -> None:
    grants = [
        "GRANT USAGE ON *.* TO `notifier`@`10.0.0.0/255.0.0.0`",
        "GRANT ALL PRIVILEGES ON `wikidot_notifier`.* TO `notifier`@`10.0.0.0/255.0.0.0`",
        "GRANT ALL PRIVILEGES ON `wikidot\\_notifier\\_test`.* TO 'notifier'@'10.0.0.0/255.0.0.0'",
        "GRANT SELECT ON `other`.`table` TO `notifier`@`%`",
        "grant select, insert on other2.* to notifier@'%'",
    ]
    assert granted_databases(grants) == {
        "*": "USAGE",
        "wikidot_notifier": "ALL PRIVILEGES",
        "wikidot_notifier_test": "ALL PRIVILEGES",
        "other2": "SELECT, INSERT",
    }


def _set(key: str, **values: Any) -> Callable[[dict], None]:
    def mutate(snap: dict) -> None:
        snap[key].update(values)

    return mutate


def _grants(keep: Callable[[str], bool]) -> Callable[[dict], None]:
    def mutate(snap: dict) -> None:
        snap[ACCESS]["grants"] = [g for g in snap[ACCESS]["grants"] if keep(g)]

    return mutate


def _collation(snap: dict) -> None:
    snap[ACCESS]["schemas"]["wikidot_notifier"]["collation"] = "utf8mb4_general_ci"


def _one_database(snap: dict) -> None:
    del snap[ACCESS]["schemas"]["wikidot_notifier_test"]


def _global_grant(snap: dict) -> None:
    snap[ACCESS]["grants"] = ["GRANT ALL PRIVILEGES ON *.* TO `notifier`@`127.0.0.0/255.0.0.0`"]


MUTATIONS: dict[str, tuple[Callable[[dict], None], set[str]]] = {
    "MySQL not installed": (
        _set(HOST, installed=False, version=None),
        {"database_host_mysql_installed_at_profile_version"},
    ),
    "older MySQL": (
        _set(HOST, version="1:10.6.1-0"),
        {"database_host_mysql_installed_at_profile_version"},
    ),
    "service disabled": (_set(HOST, enabled=False), {"database_host_mysql_enabled_at_boot"}),
    "server not running": (
        _set(HOST, processes=[], listening=False),
        {"database_host_mysql_active_and_listening"},
    ),
    "running, not listening": (
        _set(HOST, listening=False),
        {"database_host_mysql_active_and_listening"},
    ),
    "server of another version": (
        _set(ACCESS, version="8.0.33"),
        {"notifier_logs_in_through_access_host_at_profile_version"},
    ),
    "database with another collation": (_collation, {"notifier_databases_exist_utf8mb4_bin"}),
    "test database missing": (_one_database, {"notifier_databases_exist_utf8mb4_bin"}),
    "user for any host": (
        _set(ACCESS, current_user="notifier@%"),
        {"notifier_user_host_is_profile_network"},
    ),
    "no grant on the test database": (
        _grants(lambda g: "_test" not in g),
        {"notifier_user_has_all_privileges_on_both_databases"},
    ),
    "SELECT only on the test database": (
        lambda s: s[ACCESS]["grants"].__setitem__(
            -1, "GRANT SELECT ON `wikidot_notifier_test`.* TO `notifier`@`127.0.0.0/255.0.0.0`"
        ),
        {"notifier_user_has_all_privileges_on_both_databases"},
    ),
    "ALL on *.* instead (advisory, pass)": (_global_grant, set()),
}


@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_host_mutation_fails_exactly_its_checks(case: str) -> None:
    mutate, breaks = MUTATIONS[case]
    assert changed_by(mutate) == dict.fromkeys(breaks, Status.FAIL)


def _hidden_database(snap: dict) -> None:
    del snap[ACCESS]["schemas"]["wikidot_notifier_test"]
    snap[ACCESS]["grants"] = [g for g in snap[ACCESS]["grants"] if "_test" not in g]


def test_database_hidden_by_a_missing_grant_is_could_not_check() -> None:
    assert changed_by(_hidden_database) == {
        "notifier_databases_exist_utf8mb4_bin": Status.ERROR,
        "notifier_user_has_all_privileges_on_both_databases": Status.FAIL,
    }


def _login_refused(snap: dict) -> None:
    snap[ACCESS] = {
        **{k: snap[ACCESS][k] for k in ("access_host", "database", "reachable", "user")},
        "login": {"ok": False, "code": 1045, "error": '(1045, "Access denied for user")'},
    }


def _port_blocked(snap: dict) -> None:
    snap[PORT] = {**snap[PORT], "reachable": False, "reach_error": "Connect failed (code 2)"}
    snap[ACCESS] = {"collection_error": "unreachable", "message": "MySQL is not reachable"}


def test_login_refused_fails_the_login_and_leaves_the_rest_uncheckable() -> None:
    assert changed_by(_login_refused) == {
        "notifier_logs_in_through_access_host_at_profile_version": Status.FAIL,
        "notifier_databases_exist_utf8mb4_bin": Status.ERROR,
        "notifier_user_host_is_profile_network": Status.ERROR,
        "notifier_user_has_all_privileges_on_both_databases": Status.ERROR,
    }


def test_port_blocked_fails_reachability_only() -> None:
    assert changed_by(_port_blocked) == {
        "access_host_reaches_database_port": Status.FAIL,
        **{c: Status.ERROR for c in ACCESS_CHECKS - {"access_host_reaches_database_port"}},
    }


@pytest.mark.parametrize("kind", ["unreachable", "ssh-auth", "host-key"])
def test_host_not_reached_is_could_not_check_for_its_checks_only(kind: str) -> None:
    def not_reached(snap: dict) -> None:
        for key in (PORT, ACCESS):
            snap[key] = {"collection_error": kind, "message": f"SSH to 10.0.0.5: {kind}"}

    assert changed_by(not_reached) == dict.fromkeys(ACCESS_CHECKS, Status.ERROR)


def test_stopped_database_skips_the_database_host_checks() -> None:
    snap = recorded()
    snap[HOST] = {"collection_error": "skip", "message": "the database instance is stopped"}
    inv = Inventory.from_snapshot(snap)
    load_checks()
    host_checks = [c for c in CHECKS.values() if c.id.startswith("database_host_")]
    assert len(host_checks) == 3
    for check in host_checks:
        found = evaluate(check, inv, PROFILE)
        assert found.status == Status.SKIP
        assert "stopped" in found.summary
