"""No secret value ever leaves the process: the lab's passwords and the MySQL administrator's
password are unique canaries, and after runs in every mode (verify healthy, verify with fails
and errors, perform fixing the secret and the grants, the CLI), with -vv and DEBUG logging,
none appears in the terminal output, the reports (allure attachments included) or the logs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runbook.aws.inventory import Inventory
from runbook.aws.session import open_session
from runbook.lab import hosts
from runbook.lab.faults import FAULTS, World
from runbook.lab.host_faults import HOST_FAULTS, HostLab
from runbook.lab.world import LAB_SECRET_VALUES
from runbook.profile import Profile
from runbook.run import Run

from .conftest import LAB_PROFILE, LAB_SSH, ROOT

pytestmark = pytest.mark.lab

LOUD = ["-vv", "--log-level=DEBUG", "-o", "log_cli=true", "-o", "log_cli_level=DEBUG"]
AWS_FAULTS = ("secret_points_elsewhere", "function_default_timeout")
HOST_FAULT = "database_general_collation"


def _canaries(lab_state: Path) -> dict[str, str]:
    found = {k: v for k, v in LAB_SECRET_VALUES.items() if "password" in k}
    found["mysql admin"] = (hosts.folder(lab_state) / "admin-password").read_text().strip()
    assert all(v.startswith("canary-") for v in found.values())
    return found


def _run(command: list[str], env: dict[str, str], log: Path) -> str:
    proc = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    log.write_text(proc.stdout + proc.stderr)
    return proc.stdout + proc.stderr


def _runbook(out: Path, name: str, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        f"--reports-dir={out / name}",
        f"--log-file={out / name}.log",
        "--log-file-level=DEBUG",
        *LOUD,
        *args,
    ]


def _unreachable_hosts_profile(tmp: Path) -> Path:
    """The lab, with its hosts behind a closed port: every host check could not check."""
    text = LAB_PROFILE.read_text()
    broken = tmp / "lab-hosts-unreachable.toml"
    broken.write_text(text.replace(f'"{LAB_SSH}"', '"127.0.0.1:9"'))
    return broken


def test_no_canary_in_any_output_report_or_log(
    built_lab: Run,
    lab_profile: Profile,
    lab_env: dict[str, str],
    lab_state: Path,
    tmp_path: Path,
) -> None:
    canaries = _canaries(lab_state)
    out = tmp_path / "runs"
    out.mkdir()
    outputs = {}
    lab = f"--profile={LAB_PROFILE}"
    outputs["verify healthy"] = _run(
        _runbook(out, "healthy", lab, "--start-database"), lab_env, out / "a.txt"
    )
    world = World(
        open_session(lab_profile.region, writable=True),
        Inventory(open_session(lab_profile.region)),
        lab_profile,
    )
    for name in AWS_FAULTS:
        FAULTS[name].apply(world)
    HOST_FAULTS[HOST_FAULT].apply(HostLab(lab_state, lab_profile, world.session))
    broken = f"--profile={_unreachable_hosts_profile(tmp_path)}"
    outputs["verify fails and errors"] = _run(
        _runbook(out, "broken", broken, "--start-database"), lab_env, out / "b.txt"
    )
    outputs["perform"] = _run(
        _runbook(out, "perform", lab, "--mode", "perform", "--start-database"),
        lab_env,
        out / "c.txt",
    )
    outputs["cli verify"] = _run(
        [
            sys.executable,
            "-m",
            "runbook.cli",
            "verify",
            lab,
            "-m",
            "secrets",
            f"--reports-dir={out / 'cli'}",
            "--",  # pytest's own options
            *LOUD,
        ],
        lab_env,
        out / "d.txt",
    )
    # the runs did what they are for: failures and errors shown, then perform repaired them
    assert "verdict: unhealthy (exit status 1)" in outputs["verify fails and errors"]
    assert "could not check" in outputs["verify fails and errors"]
    assert "verdict: healthy (exit status 0)" in outputs["perform"], outputs["perform"][-3000:]
    assert "DEBUG" in outputs["perform"] and "botocore" in outputs["perform"]

    files = [p for p in out.rglob("*") if p.is_file()]
    files += list(lab_state.rglob("*.log"))
    assert any("allure-results" in str(p) for p in files)
    leaks = {
        f"{what} in {where}"
        for what, value in canaries.items()
        for where, text in [
            *outputs.items(),
            *((str(p), p.read_text(errors="replace")) for p in files),
        ]
        if value in text
    }
    assert leaks == set()


def test_a_secret_value_elsewhere_never_reaches_a_report_when_its_section_is_not_run(
    built_lab: Run, lab_profile: Profile, lab_env: dict[str, str], tmp_path: Path
) -> None:
    """The database password pasted into the rule target's input, and a run of the trigger
    section only: the target is collected and reported, its copy of the password is not."""
    canary = LAB_SECRET_VALUES["mysql_password"]
    events = open_session(lab_profile.region, writable=True).client("events")
    rule = lab_profile.trigger.rule
    target = events.list_targets_by_rule(Rule=rule)["Targets"][0]
    pasted = {**target, "Input": json.dumps({"note": f"db password is {canary}"})}
    events.put_targets(Rule=rule, Targets=[pasted])
    # nothing given at run time: the run can learn the value only from the secret itself
    env = {k: v for k, v in lab_env.items() if not k.startswith("RUNBOOK_SECRET_")}
    lab = f"--profile={LAB_PROFILE}"
    try:
        output = _run(_runbook(tmp_path, "trigger", lab, "-m", "trigger"), env, tmp_path / "t.txt")
    finally:
        events.put_targets(Rule=rule, Targets=[target])
    assert "verdict:" in output, output[-3000:]
    inventory = (tmp_path / "trigger" / "inventory.json").read_text()
    assert "db password is <redacted>" in inventory  # the input was collected, then scrubbed
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert [str(p) for p in files if canary in p.read_text(errors="replace")] == []
    assert canary not in output
