"""The examples users copy stay true: the policy is the generated one, the profile loads, and
the workflow and the cron line run the smoke selection with that profile."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import yaml

from runbook.aws.policy import checker_policy
from runbook.profile import load_profile
from runbook.report.plugin import EXTRA_MARKERS, SECTION_RANK, check_markers

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PROFILE = "examples/nightly-profile.toml"


def _pytest_args(command: str) -> list[str]:
    words = shlex.split(command)
    return words[words.index("pytest") + 1 :]


def _smoke_run_is_sound(args: list[str]) -> None:
    assert f"--profile={PROFILE}" in args
    marker = args[args.index("-m") + 1]
    assert marker == "smoke"
    check_markers(marker, [*SECTION_RANK, *EXTRA_MARKERS])
    assert "--start-database" not in args and "--mode" not in args  # read-only, no host start


def test_nightly_policy_is_generated_without_start_stop() -> None:
    profile = load_profile(EXAMPLES.parent / PROFILE)
    committed = json.loads((EXAMPLES / "nightly-policy.json").read_text())
    assert committed == checker_policy(profile, start_database=False), (
        "examples/nightly-policy.json is stale: notifier-runbook policy --profile "
        f"{PROFILE} --no-start-database > examples/nightly-policy.json"
    )
    actions = {a for s in committed["Statement"] for a in s["Action"]}
    assert "sns:Publish" in actions and "ec2:StartInstances" not in actions
    publish = next(s for s in committed["Statement"] if s["Action"] == ["sns:Publish"])
    assert publish["Resource"].endswith(f":{profile.notify.sns_topic}")


def test_workflow_runs_nightly_with_oidc_and_keeps_history_and_report() -> None:
    flow = yaml.safe_load((EXAMPLES / "github-actions-nightly.yml").read_text())
    triggers = flow[True]  # YAML 1.1 reads the key `on` as true
    assert re.fullmatch(r"\d+ \d+ \* \* \*", triggers["schedule"][0]["cron"])
    assert flow["permissions"]["id-token"] == "write"
    steps = flow["jobs"]["smoke"]["steps"]
    uses = [s.get("uses", "").split("@")[0] for s in steps]
    assert "aws-actions/configure-aws-credentials" in uses
    assert "role-to-assume" in steps[uses.index("aws-actions/configure-aws-credentials")]["with"]
    run = next(s["run"] for s in steps if "pytest" in s.get("run", ""))
    _smoke_run_is_sound(_pytest_args(run))
    saved = [
        s for s in steps if s.get("uses", "").startswith(("actions/cache/save", "actions/upload"))
    ]
    assert {s["with"]["path"] for s in saved} == {"reports/history.jsonl", "reports/"}
    assert all(s.get("if") == "always()" for s in saved)


def test_cron_line_runs_the_smoke_selection() -> None:
    lines = [
        line
        for line in (EXAMPLES / "crontab").read_text().splitlines()
        if line and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert len(lines) == 1
    fields = lines[0].split(maxsplit=5)
    assert re.fullmatch(r"\d+ \d+ \* \* \*", " ".join(fields[:5]))
    _smoke_run_is_sound(_pytest_args(fields[5].split(">>")[0]))
