"""Waivers: a known deviation accepted with a reason, an approver and an end date; past it, the
check fails again and says so; a malformed file is refused in one line."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from runbook.aws.inventory import Inventory
from runbook.errors import ExitStatus, UsageError
from runbook.registry import checks_in_guide_order
from runbook.report import model, writers
from runbook.run import Run
from runbook.waivers import load_waivers

from .test_checks_recorded import PROFILE, recorded

TODAY = date(2026, 12, 2)
EIP = "region_has_no_idle_elastic_ip"


def _idle_address(snap: dict) -> None:
    snap["addresses()"].append({"PublicIp": "203.0.113.9", "AllocationId": "eipalloc-idle"})


def _file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "waivers.toml"
    path.write_text(body)
    return path


def waiver(check: str = EIP, expires: str = "2027-01-31", **extra: str) -> str:
    lines = [
        "[[waiver]]",
        f'check = "{check}"',
        'justification = "kept for the migration, ticket OPS-42"',
        'approved_by = "alice@example.com"',
        f"expires = {expires}",
        *(f"{k} = {v}" for k, v in extra.items()),
    ]
    return "\n".join(lines) + "\n"


def _report(waivers_text: str | None, tmp_path: Path, *, ignore: bool = False) -> dict:
    """Every check of the recorded lab (one idle Elastic IP added) under these waivers."""
    snap = recorded()
    _idle_address(snap)
    run = Run(PROFILE, inventory=Inventory.from_snapshot(snap))
    if waivers_text is not None:
        run.waivers = load_waivers(_file(tmp_path, waivers_text), TODAY, ignore=ignore)
    for check in checks_in_guide_order():
        run.check(check)
    report = model.build(run, exit_status=0)
    report["run"]["exit_status"] = int(writers.exit_status(report))
    return report


def _check(report: dict, check_id: str) -> dict:
    return next(c for s in report["sections"] for c in s["checks"] if c["id"] == check_id)


def test_without_a_waiver_the_idle_address_fails_the_run(tmp_path: Path) -> None:
    report = _report(None, tmp_path)
    assert _check(report, EIP)["status"] == "fail"
    assert ExitStatus(report["run"]["exit_status"]) == ExitStatus.UNHEALTHY


def test_a_waiver_in_force_keeps_the_fail_reported_but_the_run_healthy(tmp_path: Path) -> None:
    report = _report(waiver(run="true"), tmp_path)
    found = _check(report, EIP)
    assert found["status"] == "waived"
    assert found["summary"].startswith("fails, waived until 2027-01-31 by alice@example.com")
    assert found["waiver"]["justification"] == "kept for the migration, ticket OPS-42"
    assert found["steps"] == []  # accepted: nothing to fix
    assert ExitStatus(report["run"]["exit_status"]) == ExitStatus.HEALTHY
    assert report["waivers"]["applied"] == [EIP] and report["totals"]["waived"] == 1
    assert writers.verdict(report).endswith("; 1 waived")
    assert writers.waiver_lines(report) == [f"WAIVED costs/{EIP}: {found['summary']}"]
    assert "## Waivers" in writers.markdown(report)


def test_an_expired_waiver_applies_no_more_and_says_so(tmp_path: Path) -> None:
    report = _report(waiver(expires="2026-12-01"), tmp_path)
    found = _check(report, EIP)
    assert found["status"] == "fail"
    assert found["summary"].endswith("(its waiver expired on 2026-12-01)")
    assert found["waiver"]["expired"] is True
    assert ExitStatus(report["run"]["exit_status"]) == ExitStatus.UNHEALTHY
    assert writers.waiver_lines(report) == [
        f"EXPIRED waiver for {EIP} (approved by alice@example.com) ended on 2026-12-01: it "
        "applies no more"
    ]
    assert "its waiver expired on 2026-12-01" in writers.markdown(report)


def test_run_false_does_not_check_at_all(tmp_path: Path) -> None:
    report = _report(waiver(run="false"), tmp_path)
    found = _check(report, EIP)
    assert found["status"] == "waived" and found["summary"].startswith("not checked: waived")
    assert found["expected"] is None  # never evaluated


def test_waivers_that_accept_nothing_are_reported(tmp_path: Path) -> None:
    text = waiver(resource='"eipalloc-other"') + waiver(check="no_such_check")
    text += waiver(check="vpc_exists_with_profile_cidr")
    report = _report(text, tmp_path)
    assert _check(report, EIP)["status"] == "fail"  # another resource's waiver
    assert {(u["check"], u["why"]) for u in report["waivers"]["unused"]} == {
        (EIP, "it did not fail"),
        ("no_such_check", "no such check"),
        ("vpc_exists_with_profile_cidr", "it did not fail"),
    }


def test_ignore_waivers_shows_the_run_without_them(tmp_path: Path) -> None:
    report = _report(waiver(), tmp_path, ignore=True)
    assert _check(report, EIP)["status"] == "fail"
    assert report["waivers"]["ignored"] is True
    assert writers.waiver_lines(report) == [
        f"waivers of {tmp_path / 'waivers.toml'} ignored (--ignore-waivers)"
    ]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("[[waiver]]\ncheck = 'x'\n", "waiver 1: justification: Field required"),
        (waiver(expires='"soon"'), "waiver 1: expires:"),
        (waiver(run="false", resource='"sg-1"'), "cannot name a resource"),
        (waiver(owner='"bob"'), "waiver 1: owner: Extra inputs are not permitted"),
        ("[waivers]\n", "unknown key 'waivers'"),
        ("check = [", "not valid TOML"),
        ("x = " + "[" * 5000 + "]" * 5000, "nested too deeply to be a waivers file"),
        ("waiver = [1, 2]\n", "waiver 1: waiver: Input should be a valid dictionary"),
        ("# " + "x" * (2 * 1024 * 1024), "not a waivers file (at most 1024 KiB)"),
    ],
)
def test_a_malformed_waivers_file_is_refused_in_one_line(
    tmp_path: Path, body: str, says: str
) -> None:
    with pytest.raises(UsageError) as refused:
        load_waivers(_file(tmp_path, body), TODAY)
    assert says in str(refused.value) and "\n" not in str(refused.value)
    assert str(refused.value).startswith(str(tmp_path / "waivers.toml"))


def test_a_waivers_path_that_is_a_fifo_is_refused_without_reading_it(tmp_path: Path) -> None:
    """Reading a FIFO would wait for a writer for ever (profiles and waivers alike)."""
    fifo = tmp_path / "waivers.toml"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="not a regular file; pass --waivers with a TOML file"):
        load_waivers(fifo, TODAY)


def test_a_waivers_path_with_a_nul_byte_is_one_line() -> None:
    """A NUL cannot be in a file name: a profile's `waivers.file` holding one is refused."""
    with pytest.raises(UsageError, match="not a file name"):
        load_waivers("waivers\x00.toml", TODAY)
