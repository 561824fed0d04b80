"""One lab for the whole test session: a moto server built by the project's perform mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbook.lab import build, control, hosts
from runbook.profile import Profile, load_profile
from runbook.run import Run

ROOT = Path(__file__).resolve().parents[2]


def _lab_profile() -> Path:
    """profiles/lab.toml; for the second and later pytest-xdist worker (make test runs two),
    a copy whose sshd and MariaDB listen on ports of that worker's own: each worker has its
    own lab, and the labs do not meet."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    lab = ROOT / "profiles" / "lab.toml"
    index = int(worker.removeprefix("gw")) if worker.removeprefix("gw").isdigit() else 0
    if index == 0:
        return lab
    text = lab.read_text()
    for port in ("22022", "23306"):  # below Linux's ephemeral ports (32768-60999), as theirs
        assert f":{port}" in text, port
        text = text.replace(f":{port}", f":{int(port) + 1000 * index}")
    copy = Path(tempfile.mkdtemp(prefix=f"runbook-lab-{worker}-")) / "lab.toml"
    copy.write_text(text)
    return copy


LAB_PROFILE = _lab_profile()
LAB_SSH = load_profile(LAB_PROFILE).hosts.address_map["*:22"]  # where the lab's sshd listens


@pytest.fixture(scope="session")
def lab_profile() -> Profile:
    return load_profile(LAB_PROFILE)


@pytest.fixture(scope="session")
def lab_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lab")


@pytest.fixture(scope="session")
def lab_url(lab_state: Path) -> Iterator[str]:
    state = lab_state
    saved = dict(os.environ)
    url = control.start(state)
    try:
        os.environ.update(hosts.start(state, load_profile(LAB_PROFILE)))
        yield url
    finally:
        hosts.stop(state)
        control.stop(state)
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def built_lab(lab_url: str, lab_profile: Profile) -> Run:
    """The lab as ``make demo`` builds it; tests that break it must leave it healthy again."""
    return build.build(lab_profile, lab_url)


@pytest.fixture
def lab_env(built_lab: Run, lab_url: str, lab_state: Path) -> dict[str, str]:
    return {**os.environ, **build.lab_environment(lab_url), **hosts.environment(lab_state)}


verify = build.verify


def lab_base(name: str, tmp_path: Path, replace: dict[str, str]) -> Path:
    """profiles/<name>.toml as a file a user would pass to ``--base`` in the lab: its text with
    ``replace`` made, the lab-assets path absolute, and the lab's timeouts, database and hosts
    (the sections ``in_the_lab`` takes)."""
    text = (ROOT / "profiles" / f"{name}.toml").read_text()
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    lab = LAB_PROFILE.read_text()
    database = lab[lab.index("[database]\n") : lab.index("\n\n", lab.index("[database]"))]
    added = lab[lab.index("[timeouts]") : lab.index("[lambda]")]
    if "[database]\n" in text:  # one table: the lab's lines go into the profile's
        text = text.replace("[database]\n", database + "\n")
        added = added.replace(database, "")
    base = tmp_path / "base.toml"
    base.write_text(
        text.replace('"lab-assets/', f'"{ROOT / "profiles" / "lab-assets"}/') + "\n" + added
    )
    return base


def proxied(
    lab_state: Path, tmp_path: Path, command: str, hosts: str = "notifier-db notifier-access"
) -> Path:
    """An SSH config that reaches ``hosts`` (patterns) through a ProxyCommand, as
    ``aws ec2-instance-connect open-tunnel`` or ``aws ssm start-session`` are wired in."""
    keys = lab_state / "hosts"
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host {hosts}\n"
        "  User root\n"
        f"  IdentityFile {keys / 'client_key'}\n"
        "  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {tmp_path / 'known_hosts'}\n"
        "  StrictHostKeyChecking accept-new\n"
        f"  ProxyCommand {command}\n"
    )
    return config


def in_the_lab(profile: Profile, lab: Profile) -> Profile:
    """``profile`` with its hosts reached as the lab's are: the lab's address map, SSH config
    and MariaDB (its version, its loopback user host)."""
    return profile.model_copy(
        update={
            "hosts": lab.hosts,
            "database": profile.database.model_copy(
                update={
                    "mysql_version": lab.database.mysql_version,
                    "mysql_user_host": lab.database.mysql_user_host,
                }
            ),
        }
    )


def runbook_pytest(args: list[str], env: dict[str, str], out: Path) -> tuple[int, str, dict]:
    """``pytest --profile=<the lab's profile>`` as a user runs it: exit status, terminal output
    and summary.json (empty when none was written)."""
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", f"--profile={LAB_PROFILE}"),
            f"--reports-dir={out}",
            *args,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    summary = out / "summary.json"
    return (
        proc.returncode,
        proc.stdout + proc.stderr,
        (json.loads(summary.read_text()) if summary.exists() else {}),
    )


def break_lab(profile: Profile, names: tuple[str, ...]) -> None:
    """Apply faults of the catalogue in order (each reads the lab as the last one left it)."""
    from runbook.aws.inventory import Inventory
    from runbook.aws.session import open_session
    from runbook.lab.faults import FAULTS, World

    for name in names:
        FAULTS[name].apply(
            World(
                open_session(profile.region, writable=True),
                Inventory(open_session(profile.region)),
                profile,
            )
        )


def outside_policy(run: Run) -> set[str]:
    """IAM actions the run's AWS calls needed that the checker's generated policy lacks."""
    from runbook.aws.collected import iam_action
    from runbook.aws.policy import checker_policy

    allowed = {a for s in checker_policy(run.profile)["Statement"] for a in s["Action"]}
    allowed.add("sts:GetCallerIdentity")  # needs no permission
    return {iam_action(*call.split(":")) for call in run.aws_calls()} - allowed
