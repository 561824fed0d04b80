"""Bad input is refused in one line, with the documented exit status, changing nothing.

The corpus runs the runbook as its users do (``python -m pytest`` in the checkout, a few cases
through ``notifier-runbook verify`` from another folder) in an environment of its own: no AWS
credentials unless the case gives some, AWS config files the test writes, the instance
metadata service off, HOME in the test's folder. Every case must end with its exit status and
exactly one line that names the file, key, option or variable to fix; no traceback, no
secret; and every file under the test's folder (a reports directory of an earlier run among
them) must be as it was, byte for byte. No lab: the cases fail before any AWS call, or meet a
closed loopback port, a silent one, or a real moto server that checks credentials.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from runbook.errors import ExitStatus

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).with_name("notifier-runbook")
SECRET = "bad-input-secret-never-printed"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLEBADINPUT", "AWS_SECRET_ACCESS_KEY": SECRET}
# One attempt of at most a second each way: the unreachable endpoints end quickly.
QUICK = "[timeouts]\nconnect_s = 1\nread_s = 1\nmax_attempts = 1\n"
USAGE, UNREACHABLE = ExitStatus.USAGE_ERROR, ExitStatus.COULD_NOT_CHECK
PROFILE = "--profile={profile}"
# A real moto server in server mode with its credential check on (off by default): it knows
# no access key until IAM creates one, as AWS answers for a key that does not exist.
MOTO_CHECKING_CREDENTIALS = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""


@dataclass(frozen=True)
class Case:
    """One bad invocation; ``{profile}``, ``{tmp}`` and ``{endpoint}`` are filled per test."""

    args: tuple[str, ...]
    status: ExitStatus
    names: tuple[str, ...]  # what the one line must name
    profile: str = QUICK
    env: dict[str, str] = field(default_factory=dict)
    endpoint: str | None = None  # the fixture that serves {endpoint}
    cli: bool = False  # notifier-runbook (args start with its command) instead of pytest


CASES = {
    "missing profile": Case(
        ("--profile={tmp}/nope.toml",), USAGE, ("nope.toml", "profile not found", "--profile")
    ),
    "toml syntax error": Case(
        (PROFILE,), USAGE, ("profile.toml", "not valid TOML", "line 1"), profile="[vpc\nname = 1"
    ),
    "wrong type": Case(
        (PROFILE,), USAGE, ("profile.toml", "'lambda.memory_mb'"), '[lambda]\nmemory_mb = "lots"'
    ),
    "unknown key": Case(
        (PROFILE,), USAGE, ("profile.toml", "'vpc.nmae'", "unknown key"), '[vpc]\nnmae = "x"'
    ),
    "invalid cidr": Case(
        (PROFILE,), USAGE, ("profile.toml", "'vpc.cidr'", "CIDR"), '[vpc]\ncidr = "10.0.0.0/33"'
    ),
    "unknown variant": Case(
        (PROFILE,),
        USAGE,
        ("profile.toml", "'variants.database'", "mongodb"),
        '[variants]\ndatabase = "mongodb"',
    ),
    "unknown region": Case(
        (PROFILE,),
        USAGE,
        ("profile.toml", "'deployment.region'", "eu-west-9"),
        '[deployment]\nregion = "eu-west-9"',
    ),
    "negative timeout": Case(
        (PROFILE,), USAGE, ("profile.toml", "'timeouts.read_s'"), "[timeouts]\nread_s = -1"
    ),
    "unknown section marker": Case(
        (PROFILE, "-m", "nosuch"), USAGE, ("-m", "'nosuch'", "valid: costs, iam, vpc")
    ),
    "marker expression cut short": Case(
        (PROFILE, "-m", "vpc and"), USAGE, ("-m", "'vpc and'", "not a marker expression")
    ),
    # Root reads every file, so "unreadable" is what even root cannot read as a file.
    "zip_path is a directory": Case(
        (PROFILE,),
        USAGE,
        ("profile.toml", "'redeployment.zip_path'", "a directory"),
        QUICK + '[redeployment]\nzip_path = "."\n',
    ),
    "ssh_config is a broken link": Case(
        (PROFILE,),
        USAGE,
        ("profile.toml", "'hosts.ssh_config'", "broken symbolic link"),
        QUICK + '[hosts]\nssh_config = "{tmp}/dangling"\n',
    ),
    "dry-run without perform": Case((PROFILE, "--dry-run"), USAGE, ("--dry-run", "--mode perform")),
    "bad mode": Case((PROFILE, "--mode", "fix"), USAGE, ("--mode", "'fix'", "verify, perform")),
    "look-back of no hours": Case(
        (PROFILE, "--lookback-hours", "0"), USAGE, ("--lookback-hours", "'0'", "1 to 336")
    ),
    "look-back not a number": Case(
        (PROFILE, "--lookback-hours=a day"), USAGE, ("--lookback-hours", "'a day'", "1 to 336")
    ),
    "look-back in other digits": Case(
        (PROFILE, "--lookback-hours=²"), USAGE, ("--lookback-hours", "'²'", "1 to 336")
    ),
    "history window too small": Case(
        (PROFILE,), USAGE, ("profile.toml", "'history.runs'"), "[history]\nruns = 1"
    ),
    "reports dir under a file": Case(
        (PROFILE, "--reports-dir={tmp}/a-file/reports"),
        USAGE,
        ("--reports-dir", "a-file is not a directory"),
    ),
    "no credentials": Case((PROFILE,), USAGE, ("no AWS credentials", "AWS_ACCESS_KEY_ID")),
    "credentials rejected": Case(
        (PROFILE,),
        USAGE,
        ("InvalidClientTokenId", "AWS_ACCESS_KEY_ID"),
        env={**CREDENTIALS, "AWS_ENDPOINT_URL": "{endpoint}"},
        endpoint="moto_checking_credentials",
    ),
    "unknown AWS_PROFILE": Case(
        (PROFILE,), USAGE, ("'nosuch'", "AWS_PROFILE"), env={"AWS_PROFILE": "nosuch"}
    ),
    # the region is validated from botocore's data, never through the user's AWS config
    "unknown AWS_PROFILE, profile with a region": Case(
        (PROFILE,),
        USAGE,
        ("'nosuch'", "AWS_PROFILE"),
        QUICK + '[deployment]\nregion = "eu-west-2"\n',
        env={"AWS_PROFILE": "nosuch"},
    ),
    "endpoint not a URL": Case(
        (PROFILE,),
        USAGE,
        ("not-a-url", "AWS_ENDPOINT_URL"),
        env={**CREDENTIALS, "AWS_ENDPOINT_URL": "not-a-url"},
    ),
    "endpoint not listening": Case(
        (PROFILE,),
        UNREACHABLE,
        ("{endpoint}", "AWS_ENDPOINT_URL", "connect_s = 1"),
        env={**CREDENTIALS, "AWS_ENDPOINT_URL": "{endpoint}"},
        endpoint="closed_port",
    ),
    "endpoint never answers": Case(
        (PROFILE,),
        UNREACHABLE,
        ("{endpoint}", "AWS_ENDPOINT_URL", "read_s = 1"),
        env={**CREDENTIALS, "AWS_ENDPOINT_URL": "{endpoint}"},
        endpoint="silent_port",
    ),
    # garbage in the AWS environment the run inherits: one line, bounded, never a traceback
    "AWS_MAX_ATTEMPTS not a number": Case(
        (PROFILE,),
        UNREACHABLE,
        ("{endpoint}", "AWS_ENDPOINT_URL"),
        env={**CREDENTIALS, "AWS_ENDPOINT_URL": "{endpoint}", "AWS_MAX_ATTEMPTS": "abc"},
        endpoint="closed_port",
    ),
    "AWS_RETRY_MODE unknown": Case(
        (PROFILE,),
        UNREACHABLE,
        ("{endpoint}", "AWS_ENDPOINT_URL"),
        env={**CREDENTIALS, "AWS_ENDPOINT_URL": "{endpoint}", "AWS_RETRY_MODE": "bogus"},
        endpoint="closed_port",
    ),
    "AWS_STS_REGIONAL_ENDPOINTS unknown": Case(
        (PROFILE,),
        USAGE,
        ("InvalidSTSRegionalEndpointsConfigError", "option bogus is invalid", "regional"),
        env={**CREDENTIALS, "AWS_STS_REGIONAL_ENDPOINTS": "bogus"},
    ),
    "AWS config file is a FIFO": Case(
        (PROFILE,),
        USAGE,
        ("no AWS credentials",),
        env={"AWS_CONFIG_FILE": "{tmp}/fifo", "AWS_SHARED_CREDENTIALS_FILE": "{tmp}/fifo"},
    ),
    "waivers file is a FIFO": Case(
        (PROFILE, "--waivers={tmp}/fifo"), USAGE, ("fifo", "not a regular file", "--waivers")
    ),
    "bad --fail-on": Case(
        (PROFILE, "--fail-on", "severe"), USAGE, ("--fail-on 'severe'", "critical, high")
    ),
    "pytest-xdist's -n": Case((PROFILE, "-n", "2"), USAGE, ("-n 2", "one process", "without -n")),
    "missing waivers file": Case(
        (PROFILE, "--waivers", "{tmp}/nope.toml"), USAGE, ("nope.toml", "waivers file not found")
    ),
    "cli: missing profile": Case(
        ("verify", "--profile", "{tmp}/nope.toml"), USAGE, ("nope.toml",), cli=True
    ),
    "cli: toml syntax error": Case(
        ("verify", "--profile", "{profile}"),
        USAGE,
        ("profile.toml", "not valid TOML"),
        profile="[vpc\nname = 1",
        cli=True,
    ),
    "cli: unknown section marker": Case(
        ("verify", "--profile", "{profile}", "-m", "nosuch"), USAGE, ("'nosuch'",), cli=True
    ),
    "cli: no credentials": Case(
        ("verify", "--profile", "{profile}"), USAGE, ("AWS_ACCESS_KEY_ID",), cli=True
    ),
    "cli: unknown command": Case(("verfiy",), USAGE, ("'verfiy'", "--help"), cli=True),
    "cli fleet: missing fleet file": Case(
        ("verify", "--fleet", "{tmp}/nope.toml"), USAGE, ("nope.toml", "fleet file"), cli=True
    ),
    "cli fleet: a deployment named twice": Case(
        ("verify", "--fleet", "{profile}"),
        USAGE,
        ("profile.toml", "deployment 'a' is named twice"),
        profile='[[deployment]]\nname = "a"\n[[deployment]]\nname = "a"\n',
        cli=True,
    ),
    "cli fleet: a name that leaves the reports folder": Case(
        ("verify", "--fleet", "{profile}"),
        USAGE,
        ("profile.toml", "'../a'", "not a deployment name"),
        profile='[[deployment]]\nname = "../a"\nprofile = "x.toml"\n',
        cli=True,
    ),
    "cli fleet: a deployment's profile is not a profile": Case(
        ("verify", "--fleet", "{profile}"),
        USAGE,
        ("deployment 'a'", "a-file", "not valid TOML"),
        profile='[[deployment]]\nname = "a"\nprofile = "{tmp}/a-file"\n',
        cli=True,
    ),
    "cli fleet: an option without --fleet": Case(
        ("verify", "--tag", "prod"), USAGE, ("--tag needs --fleet",), cli=True
    ),
    "cli fleet: a profile beside the fleet": Case(
        ("verify", "--fleet", "{profile}", "--profile", "{profile}"),
        USAGE,
        ("--profile", "each deployment's profile"),
        cli=True,
    ),
    "cli fleet: perform": Case(
        ("perform", "--fleet", "{profile}"), USAGE, ("never performed",), cli=True
    ),
    "cli fleet: a shard out of range": Case(
        ("verify", "--fleet", "{profile}", "--shard", "3/2"), USAGE, ("--shard '3/2'",), cli=True
    ),
    "cli merge: a folder without a fleet summary": Case(
        ("merge", "{tmp}/home"), USAGE, ("home/fleet.json", "no fleet summary"), cli=True
    ),
    "cli: unknown option": Case(
        ("verify", "--profle", "x"), USAGE, ("'--profle'", "verify --help"), cli=True
    ),
}


@pytest.fixture
def silent_port() -> Iterator[str]:
    """A loopback port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def moto_checking_credentials() -> Iterator[str]:
    """A moto server of this test's own, on a free port, stopped by closing its stdin."""
    proc = subprocess.Popen(
        [sys.executable, "-c", MOTO_CHECKING_CREDENTIALS],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"},
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        yield f"http://127.0.0.1:{proc.stdout.readline().strip()}"
        proc.stdin.close()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def snapshot(folder: Path) -> dict[str, object]:
    """Every name under ``folder``: a file's bytes and mtime, a link's target, a directory."""
    out: dict[str, object] = {}
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder))
        if path.is_symlink():
            out[name] = ("link", os.readlink(path))
        elif path.is_dir():
            out[name] = "dir"
        elif not path.is_file():  # the FIFO: never opened
            out[name] = ("special", path.stat().st_mode)
        else:
            out[name] = (path.read_bytes(), path.stat().st_mtime_ns)
    return out


def fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_refused_in_one_line_changing_nothing(
    name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    case = CASES[name]
    values = {"tmp": str(tmp_path), "profile": str(tmp_path / "profile.toml")}
    if case.endpoint:
        values["endpoint"] = request.getfixturevalue(case.endpoint)
    (tmp_path / "profile.toml").write_text(fill(case.profile, values))
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "a-file").write_text("a regular file\n")
    os.mkfifo(tmp_path / "fifo")  # reading it would wait for a writer for ever
    (tmp_path / "home").mkdir()
    (tmp_path / "aws-config").write_text("[profile other]\nregion = eu-west-2\n")
    (tmp_path / "aws-credentials").write_text("")
    reports = tmp_path / "reports"  # an earlier run's report, which a refusal must not touch
    (reports / "allure-results").mkdir(parents=True)
    (reports / "allure-results" / "earlier-result.json").write_text('{"status": "passed"}\n')
    (reports / "junit.xml").write_text("<testsuites/>\n")
    (reports / "summary.json").write_text('{"run": {"exit_status": 0}}\n')
    before = snapshot(tmp_path)

    args = [fill(a, values) for a in case.args]
    if case.cli:
        command, cwd = [str(CLI), *args[:1], f"--reports-dir={reports}", *args[1:]], tmp_path
    else:
        command, cwd = [sys.executable, "-m", "pytest", f"--reports-dir={reports}", *args], ROOT
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "LANG": "C.UTF-8",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
        **{k: fill(v, values) for k, v in case.env.items()},
    }
    # A loose bound that proves the silent endpoint's run ends by the profile's one-second
    # bound: the defaults' (5 attempts of 5 + 20 s) would take over 100 s.
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)

    output = proc.stdout + proc.stderr
    lines = [line for line in output.splitlines() if line.strip()]
    assert proc.returncode == case.status, output
    assert len(lines) == 1, output
    for part in case.names:
        assert fill(part, values) in lines[0], lines[0]
    assert "Traceback" not in output
    assert SECRET not in output
    assert snapshot(tmp_path) == before
