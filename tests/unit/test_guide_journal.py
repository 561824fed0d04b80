"""The guided walk's journal, its transcript and its plan files, without a lab."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runbook.errors import UsageError
from runbook.guided import load_plan, plan_digest
from runbook.journal import Journal, read
from runbook.redact import remember
from runbook.report.transcript import markdown


def test_every_line_is_whole_and_says_its_event_and_time(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "guide" / "a.jsonl")
    journal.write("start", user="ana")
    journal.write("step", section="vpc", step="vpc.create_vpc", status="applied", by="perform")
    journal.close()
    lines = (tmp_path / "guide" / "a.jsonl").read_text().splitlines()
    assert [json.loads(x)["event"] for x in lines] == ["start", "step"]
    assert all(json.loads(x)["at"].endswith("+00:00") for x in lines)


def test_a_line_cut_short_by_a_kill_is_left_out(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    journal.write("start")
    journal.close()
    with path.open("a") as f:
        f.write('{"event": "step", "sec')  # the process died here
    assert [e["event"] for e in read(path)] == ["start"]


def test_a_secret_never_reaches_the_journal(tmp_path: Path) -> None:
    remember("canary-journal-1234")
    journal = Journal(tmp_path / "j.jsonl")
    journal.write("shown", plan=[{"says": "set password canary-journal-1234"}])
    journal.close()
    assert "canary-journal-1234" not in (tmp_path / "j.jsonl").read_text()


def test_the_transcript_tells_the_run_from_the_journal() -> None:
    events = [
        {
            "event": "start",
            "at": "t0",
            "user": "ana",
            "identity": "arn:x",
            "source": "p.toml",
            "region": "eu-west-2",
            "answers": "interactive",
        },
        {
            "event": "shown",
            "at": "t1",
            "step": "vpc.create_vpc",
            "by": "perform",
            "plan": [{"state": "planned", "says": "create VPC", "calls": ["ec2 CreateVpc"]}],
        },
        {"event": "answer", "at": "t2", "answer": "apply"},
        {"event": "calls", "at": "t3", "calls": {"ec2:CreateVpc": 1}},
        {
            "event": "step",
            "at": "t4",
            "step": "vpc.create_vpc",
            "status": "applied",
            "by": "perform",
            "says": "the VPC is created",
        },
        {
            "event": "attestation",
            "at": "t5",
            "user": "ana",
            "identity": "arn:x",
            "checks": ["database_host_mysql_enabled_at_boot"],
        },
        {"event": "end", "at": "t6", "verdict": "quit", "stopped_at": "trigger.create_rule"},
    ]
    md = markdown(events)
    assert "Started t0 by ana as arn:x" in md
    assert "  - planned: create VPC `ec2 CreateVpc`" in md
    assert "- t2 answer: **apply**" in md
    assert "- t3 AWS calls: ec2:CreateVpc × 1" in md
    assert "**✓ applied** by perform: `vpc.create_vpc` the VPC is created" in md
    assert "attested by ana (arn:x): database_host_mysql_enabled_at_boot" in md
    assert "Ended t6: **quit** at `trigger.create_rule`." in md


def _plan(tmp_path: Path, **changes: object) -> Path:
    bound = {"profile": "lab", "region": "eu-west-2", "account": "123456789012"}
    steps = [{"step": "trigger.create_rule", "plan": []}]
    document = {"schema": 1, **bound, "steps": steps, "digest": plan_digest(bound, steps)}
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({**document, **changes}))
    return path


def test_a_plan_file_is_read_back_as_written(tmp_path: Path) -> None:
    assert load_plan(_plan(tmp_path))["steps"][0]["step"] == "trigger.create_rule"


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"steps": []}, "edited after it was made"),
        ({"account": "999999999999"}, "edited after it was made"),
        ({"schema": 2}, "not a plan file of"),
    ],
)
def test_a_plan_that_is_not_as_made_is_refused(
    tmp_path: Path, changes: dict[str, object], error: str
) -> None:
    with pytest.raises(UsageError, match=error):
        load_plan(_plan(tmp_path, **changes))


def test_a_file_that_is_no_plan_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text("{not json")
    with pytest.raises(UsageError, match="not a plan file"):
        load_plan(path)
    with pytest.raises(UsageError, match="not a plan file"):
        load_plan(tmp_path / "missing.json")
