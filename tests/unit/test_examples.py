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


def test_fleet_example_loads_and_its_workflow_shards_and_merges_it() -> None:
    from runbook.cli import parser
    from runbook.fleet import load_fleet, parse_shard
    from runbook.fleet_cli import refusal

    fleet = load_fleet(EXAMPLES / "fleet.toml")
    assert [d.name for d in fleet] == ["eu-prod", "us-prod", "staging"]
    assert {d.profile.region for d in fleet} == {"eu-west-2", "us-east-1"}
    flow = yaml.safe_load((EXAMPLES / "github-actions-fleet.yml").read_text())
    shards = flow["jobs"]["shard"]["strategy"]["matrix"]["shard"]
    steps = flow["jobs"]["shard"]["steps"]
    run = next(s["run"] for s in steps if "--fleet" in s.get("run", ""))
    for k in shards:
        words = shlex.split(run.replace("${{ matrix.shard }}", str(k)))
        ns, unknown = parser().parse_known_args(words[1:])
        assert not unknown and refusal(ns, []) is None, words
        assert ns.fleet == "examples/fleet.toml" and ns.section == "smoke"
        assert parse_shard(ns.shard) == (k, len(shards))
    cached = [s for s in steps if s.get("uses", "").startswith("actions/cache/")]
    assert all(f"${{{{ matrix.shard }}}}-of-{len(shards)}" in s["with"]["key"] for s in cached)
    merge = flow["jobs"]["merge"]
    assert merge["needs"] == "shard" and merge["if"] == "always()"
    command = next(s["run"] for s in merge["steps"] if "merge" in s.get("run", ""))
    ns, unknown = parser().parse_known_args(shlex.split(command)[1:])
    assert not unknown and ns.command == "merge" and ns.folders == ["shards/*"]
