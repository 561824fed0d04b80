"""Screenshots of report.html on the lab, healthy and with three faults made by someone else.

    .venv/bin/python scripts/report_screenshots.py [--out reports/screenshots] [--docs]

Builds the lab (as ``make demo`` does), verifies it and photographs the page; then, as an IAM
user of the lab's own ("mallory", with her own keys), opens MySQL to the internet, disables the
hourly rule and gives the administration user AdministratorAccess of its own, verifies with
``--blame`` and photographs the page again: the failures first, each with who changed it.
``--docs`` also copies the second picture to docs/report.png (the README's). The lab is
stopped at the end whatever happens. Headless chromium, no network, as the tests browse it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import boto3

from runbook.aws.inventory import Inventory
from runbook.aws.session import open_session
from runbook.lab import build, control, hosts
from runbook.lab.faults import FAULTS, World
from runbook.profile import load_profile

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "profiles" / "lab.toml"
THREE_FAULTS = (
    "database_group_open_to_the_world",
    "rule_left_disabled",
    "administrator_access_on_the_user",
)
# No network at all: a proxy on a closed loopback port, every name resolving to nothing.
HEADLESS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--proxy-server=127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND",
]
PYTEST = [sys.executable, "-m", "pytest", "-q", "--profile", str(PROFILE), "--start-database"]


def verify(env: dict[str, str], reports: Path, *extra: str) -> int:
    return subprocess.run(
        [*PYTEST, f"--reports-dir={reports}", *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        check=False,
    ).returncode


def photograph(page: Path, png: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium is not installed: run `make setup`")
    subprocess.run(
        [chromium, *HEADLESS, f"--screenshot={png}", "--window-size=1200,1800", page.as_uri()],
        check=True,
        capture_output=True,
        timeout=120,
    )
    print(f"{png} ({png.stat().st_size // 1024} KiB)")


def break_as_someone_else(region: str) -> None:
    """The three faults, made with the keys of a user of the lab's own."""
    iam = boto3.client("iam", region_name=region)
    iam.create_user(UserName="mallory")
    keys = iam.create_access_key(UserName="mallory")["AccessKey"]
    os.environ["AWS_ACCESS_KEY_ID"] = keys["AccessKeyId"]
    os.environ["AWS_SECRET_ACCESS_KEY"] = keys["SecretAccessKey"]
    profile = load_profile(PROFILE)
    for name in THREE_FAULTS:
        world = World(open_session(region, writable=True), Inventory(open_session(region)), profile)
        FAULTS[name].apply(world)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "screenshots")
    parser.add_argument("--docs", action="store_true", help="also update docs/report.png")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    lab_dir = Path(tempfile.mkdtemp(prefix="screenshots-lab-"))
    profile = load_profile(PROFILE)
    try:
        url = control.start(lab_dir)
        os.environ.update(hosts.start(lab_dir, profile))
        os.environ.update(build.lab_environment(url))
        build.build(profile, url)
        env = {**os.environ, **hosts.environment(lab_dir)}
        healthy = args.out / "healthy"
        print(f"healthy lab: exit status {verify(env, healthy)}")
        photograph(healthy / "report.html", args.out / "healthy.png")
        break_as_someone_else(profile.region)
        broken = args.out / "three-faults"
        print(f"three faults: exit status {verify(env, broken, '--blame')}")
        photograph(broken / "report.html", args.out / "three-faults.png")
        if args.docs:
            shutil.copyfile(args.out / "three-faults.png", ROOT / "docs" / "report.png")
    finally:
        hosts.stop(lab_dir)
        control.stop(lab_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
