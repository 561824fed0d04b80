"""One perform at a time per deployment, on any machine: a lease in the account (an SSM
parameter created with Overwrite=false), taken before the first write and given back at the
end; a second perform says who holds it and changes nothing; --break-lease takes it over."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from runbook.actions.lease import parameter_name
from runbook.lab import build
from runbook.profile import Profile
from runbook.run import Run

from .conftest import LAB_PROFILE, ROOT, break_lab, verify

pytestmark = pytest.mark.lab

CLI = str(Path(sys.executable).with_name("notifier-runbook"))
FAULT = ("rule_left_disabled",)  # perform puts the rule back: one write


def _perform(env: dict[str, str], out: Path, *more: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            CLI,
            "perform",
            "--profile",
            str(LAB_PROFILE),
            f"--reports-dir={out}",
            *more,
            "--",
            "-m",
            "trigger",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_a_held_lease_stops_a_perform_before_any_write_and_break_lease_takes_it(
    built_lab: Run, lab_profile: Profile, lab_env: dict[str, str], tmp_path: Path
) -> None:
    break_lab(lab_profile, FAULT)
    ssm = build.lab_hand(lab_profile).client("ssm")
    name = parameter_name(lab_profile)
    other = {
        "owner": "arn:aws:iam::123456789012:user/ci (runner@ci-7, pid 4242)",
        "since": "2026-12-02T03:00:00+00:00",
        "heartbeat": "2026-12-02T03:01:00+00:00",
        "expires": "2026-12-02T03:11:00+00:00",
    }
    ssm.put_parameter(Name=name, Value=json.dumps(other), Type="String")
    try:
        refused = _perform(lab_env, tmp_path / "a")
        output = refused.communicate(timeout=300)[0]
        assert refused.returncode == 2, output
        line = next(x for x in output.splitlines() if "another perform holds the lease" in x)
        assert "user/ci (runner@ci-7, pid 4242)" in line and "(expired" in line
        assert not (tmp_path / "a" / "summary.json").exists()
        assert verify(lab_profile).findings["rule_fires_hourly_and_is_enabled"].status == "fail"

        taken = _perform(lab_env, tmp_path / "b", "--break-lease")
        output = taken.communicate(timeout=300)[0]
        assert "WARNING: broke the perform lease" in output and "pid 4242" in output, output
        summary = json.loads((tmp_path / "b" / "summary.json").read_text())
        # refused once, then taken over; given back at the end; counted apart from the fix
        assert summary["lease_calls"] == {"ssm:DeleteParameter": 1, "ssm:PutParameter": 2}
        assert summary["mutating_calls"] == {"events:PutRule": 1}
        assert verify(lab_profile).findings["rule_fires_hourly_and_is_enabled"].status == "pass"
        names = [p["Name"] for p in ssm.describe_parameters()["Parameters"]]
        assert name not in names  # given back at the end
    finally:
        with contextlib.suppress(ssm.exceptions.ParameterNotFound):
            ssm.delete_parameter(Name=name)  # the lab's hand may delete
        build.build(lab_profile, lab_env["AWS_ENDPOINT_URL"])


def test_two_performs_at_once_never_make_a_change_twice(
    built_lab: Run, lab_profile: Profile, lab_env: dict[str, str], tmp_path: Path
) -> None:
    """Started together: the one that loses the lease says who holds it (exit 2); if it only
    came after the other had finished, it found nothing left to do. Either way the rule is
    put back exactly once."""
    break_lab(lab_profile, FAULT)
    try:
        runs = [_perform(lab_env, tmp_path / str(i)) for i in range(2)]
        outputs = [r.communicate(timeout=300)[0] for r in runs]
        assert {r.returncode for r in runs} <= {0, 2}, outputs
        refused = [o for o in outputs if "another perform holds the lease" in o]
        assert len(refused) == sum(r.returncode == 2 for r in runs), outputs
        done = [json.loads(p.read_text()) for p in tmp_path.glob("*/summary.json")]
        assert sum(d["mutating_calls"].get("events:PutRule", 0) for d in done) == 1
        assert verify(lab_profile).findings["rule_fires_hourly_and_is_enabled"].status == "pass"
    finally:
        build.build(lab_profile, lab_env["AWS_ENDPOINT_URL"])
