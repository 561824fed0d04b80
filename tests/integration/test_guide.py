"""``notifier-runbook guide`` as a person meets it: in a real pseudo-terminal (pexpect), from an
empty lab to a healthy deployment, answering at each step; quitting in the middle and going on
later; the work only a person does (Cloud9's environment, pushing the image, waiting for the
hourly runs) done by the test when the guide asks for it; the journal telling all of it."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest

from runbook.aws.inventory import Inventory
from runbook.aws.session import open_session
from runbook.guide_steps import STEPS
from runbook.journal import read
from runbook.lab import build, history, world
from runbook.profile import Profile

from .conftest import LAB_PROFILE, ROOT, break_lab, verify
from .test_perform_safety import killed_at

pytestmark = pytest.mark.lab

GUIDE = ["-m", "runbook.cli", "guide", f"--profile={LAB_PROFILE}"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
PROMPT = r"\[([a-z](?:/[a-z])+)\](?:\x1b\[[0-9;]*m)*: "  # rich's "[a/s/i/q]: ", coloured
SAYS = {s.says: s.id for s in STEPS.values()}


@pytest.fixture
def empty_lab(
    built_lab: object, lab_profile: Profile, lab_url: str, lab_state: Path
) -> Iterator[None]:
    """The lab's servers with nothing deployed; built again afterwards for the other tests."""
    build.empty(lab_profile, lab_url, lab_state)
    try:
        yield
    finally:
        build.build(lab_profile, lab_url)


def guide(env: dict[str, str], reports: Path, *extra: str) -> pexpect.spawn:
    """The walk in a pseudo-terminal; what it shows is also kept in <reports>/terminal.log."""
    child = pexpect.spawn(
        sys.executable,
        [*GUIDE, f"--reports-dir={reports}", *extra],
        cwd=str(ROOT),
        env={**env, **world.secret_environment(), "COLUMNS": "160"},
        encoding="utf-8",
        timeout=240,
        dimensions=(50, 160),
    )
    reports.mkdir(parents=True, exist_ok=True)
    child.logfile_read = (reports / "terminal.log").open("a")
    return child


class Person:
    """Answers the guide as a person would: each step's plan applied, the work only a person
    does done when asked, with a few choices of their own (``choose``: step id → key)."""

    def __init__(self, profile: Profile, url: str, choose: dict[str, str]) -> None:
        self.profile, self.url, self.choose = profile, url, dict(choose)
        self.seen: list[tuple[str, str]] = []  # (step id, key answered)

    def hands(self) -> dict[str, Callable[[], None]]:
        p = self.profile
        people = open_session(p.region, writable=True)

        def inv() -> Inventory:
            return Inventory(open_session(p.region))

        return {
            "lambda.create_function": lambda: world.push_image(people, inv(), p),
            "redeployment.push_image": lambda: world.push_image(people, inv(), p),
            # AWS makes the function's interfaces once it is in the VPC (none before)
            # the lab has no Cloud9 API: its stand-in makes the environment's instance
            "database_access.access_host": lambda: world.cloud9_environment(people, inv(), p),
            "egress.elastic_ips": lambda: world.lambda_enis(people, inv(), p),
            "operations.run_a_day": self.a_day_passes,
        }

    def a_day_passes(self) -> None:
        """A day of hourly runs, each ending with the database stopped."""
        p = self.profile
        people = open_session(p.region, writable=True)
        world.database_stopped(people, Inventory(open_session(p.region)), p)
        history.seed(build.lab_hand(p), self.url, p)

    def walk(self, child: pexpect.spawn) -> str:
        """Answer every prompt until the guide ends; all it printed, without colours."""
        hands, screen = self.hands(), ""
        while child.expect([PROMPT, pexpect.EOF]) == 0:
            text = ANSI.sub("", child.before)
            screen += text + child.after
            step = _last_step(text) or self.seen[-1][0]
            keys = child.match.group(1).split("/")
            if step in hands:  # the person does their part (again: it is idempotent)
                hands[step]()
            key = self.choose.pop(step, None)
            if key is None:
                # done by hand, and it still fails: leave it for later, the walk comes back
                again = self.seen[-1:] == [(step, "d")]
                key = "a" if "a" in keys else "s" if again else "d"
            self.seen.append((step, key))
            child.sendline(key)
        child.close()
        child.logfile_read.close()
        return screen + ANSI.sub("", child.before or "")


def _no_plan_applied_twice(events: list[dict]) -> bool:
    """Each plan applied (the one shown before an ``apply`` answer) is applied once: a step
    may take rounds (the rule, then its targets), each its own plan."""
    shown: dict[str, str] = {}
    applied: list[tuple[str, str]] = []
    for e in events:
        if e["event"] == "shown":
            shown[e["step"]] = json.dumps(e["plan"], sort_keys=True)
        elif e["event"] == "answer" and e["answer"] == "apply":
            applied.append((e["step"], shown[e["step"]]))
    return bool(applied) and len(applied) == len(set(applied))


def _last_step(text: str) -> str | None:
    found = [(text.rfind(says), step) for says, step in SAYS.items() if says in text]
    return max(found)[1] if found else None


def test_a_guided_walk_from_nothing_to_healthy_in_three_sittings(
    empty_lab: None, lab_env: dict[str, str], lab_profile: Profile, lab_url: str, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"

    def sitting(person: Person, *extra: str) -> tuple[str, list[dict], dict[str, str]]:
        child = guide(lab_env, reports, *extra)
        screen = person.walk(child)
        events = read(sorted((reports / "guide").glob("*.jsonl"))[-1])
        outcome = {e["step"]: e["status"] for e in events if e["event"] == "step"}
        assert _no_plan_applied_twice(events)
        return screen + f"\nexit {child.exitstatus}", events, outcome

    # 1. Details once, one step skipped, the databases left for later (the notifier's login
    #    needs the secret, a later step), then quit at the trigger.
    first = Person(
        lab_profile,
        lab_url,
        {
            "iam.create_group": "i",
            "database_access.access_host": "d",  # made in the console, as the guide says
            "lambda.limit_concurrency": "s",
            "database_access.create_databases": "s",
            "trigger.create_rule": "q",
        },
    )
    screen, events, outcome = sitting(first, "--start-database")
    assert screen.endswith("exit 1"), screen[-3000:]
    assert "section 1 of 15" in screen and "step 1 of" in screen
    assert "resource:" in screen  # the details asked for
    assert "stopped here: run `notifier-runbook guide` again" in screen
    assert events[-1]["verdict"] == "quit" and events[-1]["stopped_at"] == "trigger.create_rule"
    assert outcome["lambda.limit_concurrency"] == "skipped"
    assert outcome["iam.create_group"] == "applied"
    assert "trigger.create_rule" not in outcome
    # 2. The hourly schedule stopped the database meanwhile, and this sitting does not start
    #    it: MySQL's install cannot be verified (its checks are skipped, which is no "already
    #    done"), the person attests it; the rest is applied.
    world.database_stopped(
        open_session(lab_profile.region, writable=True),
        Inventory(open_session(lab_profile.region)),
        lab_profile,
    )
    second = Person(
        lab_profile,
        lab_url,
        {"database_ec2.install_mysql": "d", "database_access.create_databases": "s"},
    )
    screen, events, outcome = sitting(second)
    assert screen.endswith("exit 0"), screen[-3000:]
    assert second.seen[0][0] == "database_ec2.install_mysql"  # the first step not healthy
    assert outcome["iam.create_group"] == "already-done"  # never applied twice
    assert outcome["database_ec2.install_mysql"] == "attested"
    attested = [e for e in events if e["event"] == "attestation"]
    assert attested and attested[0]["identity"].startswith("arn:aws:")
    assert attested[0]["user"] and attested[0]["checks"]
    assert outcome["lambda.limit_concurrency"] == "applied"
    assert outcome["trigger.create_rule"] == "applied"
    assert outcome["egress.elastic_ips"] == "applied"  # once the function was in the VPC
    assert outcome["operations.run_a_day"] == "applied"
    # healthy as verify counts skips, and the checks not made said so
    assert events[-1]["verdict"] == "healthy"
    assert "database_host_mysql_installed_at_profile_version" in events[-1]["unverified"]
    assert "check(s) not made this time" in screen
    # 3. With the database started for the checks: the databases, and healthy.
    third = Person(lab_profile, lab_url, {})
    screen, events, outcome = sitting(third, "--start-database")
    assert screen.endswith("exit 0"), screen[-3000:]
    assert "guide: healthy" in screen
    assert outcome["database_access.create_databases"] == "applied"
    assert outcome["database_ec2.install_mysql"] == "already-done"
    assert events[-1]["event"] == "end" and events[-1]["verdict"] == "healthy"
    # every line an object with event and at; the calls journaled; no secret value in it
    made: Counter[str] = Counter()
    for journal in (reports / "guide").glob("*.jsonl"):
        text = journal.read_text()
        assert all({"event", "at"} <= set(json.loads(line)) for line in text.splitlines())
        assert "canary-" not in text
        for event in read(journal):
            if event["event"] == "calls":
                made.update(event["calls"])
    assert made["ec2:CreateVpc"] == 1 and made["events:PutRule"] == 1  # each made once
    # the last sitting's transcript, rendered from its journal
    transcript = (reports / "guide.md").read_text()
    assert "**✓ applied** by perform: `database_access.create_databases`" in transcript
    assert "**healthy**" in transcript
    # and a plain verify agrees
    final = verify(lab_profile, start_database=True)
    assert {f.status.value for f in final.findings.values()} <= {"pass", "skip"}


def test_yes_applies_every_plan_and_stops_at_a_manual_step_that_does_not_hold(
    empty_lab: None, lab_env: dict[str, str], tmp_path: Path
) -> None:
    """--yes: nobody answers; the first manual step whose checks fail (Cloud9's environment is
    a person's to make) stops the walk with exit 1, naming it."""
    child = guide(lab_env, tmp_path, "--yes", "--start-database")
    child.expect(pexpect.EOF)
    child.close()
    child.logfile_read.close()
    screen = ANSI.sub("", child.before)
    assert child.exitstatus == 1, screen[-3000:]
    events = read(next((tmp_path / "guide").glob("*.jsonl")))
    steps = [e for e in events if e["event"] == "step"]
    assert steps[-1]["status"] == "failed"
    assert steps[-1]["step"] == "database_access.access_host"
    assert any(s["status"] == "applied" for s in steps)
    # nobody was asked: the walk answered apply, and done for the manual step it stopped at
    assert {e["answer"] for e in events if e["event"] == "answer"} == {"apply", "done"}


def test_interrupted_walk_keeps_a_whole_journal(
    empty_lab: None, lab_env: dict[str, str], tmp_path: Path
) -> None:
    """Ctrl-C at a prompt: the journal ends with an interrupted line, nothing half-written."""
    child = guide(lab_env, tmp_path)
    child.expect(PROMPT)
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    child.logfile_read.close()
    events = read(next((tmp_path / "guide").glob("*.jsonl")))
    assert events[-1]["event"] == "end" and events[-1]["verdict"] == "interrupted"
    assert child.exitstatus == 1 or child.signalstatus == signal.SIGINT


@pytest.fixture
def rebuilt_after(built_lab: object, lab_profile: Profile, lab_url: str) -> Iterator[None]:
    yield
    build.build(lab_profile, lab_url)


def _run(env: dict[str, str], reports: Path, *extra: str) -> int:
    """``guide`` without a terminal (approval and --yes need none)."""
    proc = subprocess.run(
        [sys.executable, *GUIDE, f"--reports-dir={reports}", "--start-database", *extra],
        cwd=ROOT,
        env={**env, **world.secret_environment()},
        capture_output=True,
        text=True,
        timeout=600,
    )
    _run.output = proc.stdout + proc.stderr  # type: ignore[attr-defined]
    return proc.returncode


def _read(operation: str) -> bool:
    return operation.split(":")[1].startswith(("Describe", "Get", "List"))


def _operations(calls: list[str]) -> Counter[str]:
    """``ec2 AuthorizeSecurityGroupIngress GroupId=...`` → ``ec2:AuthorizeSecurityGroupIngress``."""
    return Counter(":".join(c.split()[:2]) for c in calls if not c.startswith("mysql "))


def test_an_approved_plan_is_applied_exactly_or_refused_when_the_deployment_changed(
    rebuilt_after: None, lab_env: dict[str, str], lab_profile: Profile, tmp_path: Path
) -> None:
    break_lab(lab_profile, ("rule_left_disabled", "database_group_open_to_the_world"))
    plan = tmp_path / "plan.json"
    assert _run(lab_env, tmp_path, "--plan-only", str(plan)) == 0, _run.output
    document = json.loads(plan.read_text())
    planned = {s["step"] for s in document["steps"]}
    assert {"trigger.create_rule", "security_groups.database_group"} <= planned
    # someone changes the deployment after the approval was asked for: refused, nothing done
    break_lab(lab_profile, ("internet_group_admits_ssh_from_anywhere",))
    assert _run(lab_env, tmp_path, "--approve", str(plan)) == 4
    assert _run.output.count("\n") <= 1 and "refused: the deployment changed" in _run.output
    rule = Inventory(open_session(lab_profile.region)).rule(lab_profile.trigger.rule)
    assert rule["State"] == "DISABLED"  # nothing was applied
    # a fresh plan, approved unchanged: exactly its calls are made, and the lab is healthy
    assert _run(lab_env, tmp_path, "--plan-only", str(plan)) == 0, _run.output
    document = json.loads(plan.read_text())
    assert _run(lab_env, tmp_path, "--approve", str(plan)) == 0, _run.output
    journal = read(sorted((tmp_path / "guide").glob("*.jsonl"))[-1])
    made: Counter[str] = Counter()
    for event in journal:
        if event["event"] == "calls":  # the writes (perform reads as it goes, too)
            made.update({k: v for k, v in event["calls"].items() if not _read(k)})
    applied = {e["step"] for e in journal if e["event"] == "step" and e["status"] == "applied"}
    # a step applied is its plan's actions, each once (two checks may share one fix); a step
    # that an earlier one already did (a rule open to the world is in two checks) is not
    actions = {
        (s["step"], p["says"], tuple(p["calls"]))
        for s in document["steps"]
        if s["by"] == "perform" and s["step"] in applied
        for p in s["plan"]
    }
    assert made == _operations([c for *_, calls in actions for c in calls])
    assert applied >= {"trigger.create_rule", "security_groups.database_group"}
    assert journal[-1]["verdict"] == "healthy"
    # an edited plan is no plan
    edited = json.loads(plan.read_text())
    edited["steps"] = []
    plan.write_text(json.dumps(edited))
    assert _run(lab_env, tmp_path, "--approve", str(plan)) == 4
    assert "was edited after it was made" in _run.output


def test_killed_between_a_plans_calls_the_next_walk_converges_without_doing_anything_twice(
    rebuilt_after: None, lab_env: dict[str, str], lab_profile: Profile, tmp_path: Path
) -> None:
    """SIGKILL after the Elastic IP is allocated and before it is associated: the journal
    reads whole to its last line, and the next --yes walk associates that same address."""
    break_lab(lab_profile, ("lambda_eni_without_elastic_ip",))
    before = len(open_session(lab_profile.region).client("ec2").describe_addresses()["Addresses"])
    command = [
        sys.executable,
        "-c",
        "import sys, tests.integration.hold_at; from runbook.cli import main; "
        "sys.exit(main(sys.argv[1:]))",
        *("guide", f"--profile={LAB_PROFILE}", "--yes", "--start-database"),
        f"--reports-dir={tmp_path}",
    ]
    killed_at(
        "ec2:AssociateAddress",
        command,
        {**lab_env, **world.secret_environment()},
        tmp_path / "killed.log",
    )
    journal = read(next((tmp_path / "guide").glob("*.jsonl")))
    assert journal and journal[-1]["event"] != "end"  # cut short, every line whole
    # what the killed walk started it could not stop: a person stops the database
    world.database_stopped(
        open_session(lab_profile.region, writable=True),
        Inventory(open_session(lab_profile.region)),
        lab_profile,
    )
    # the killed walk's lease is still held: the one line says so, and how to go on
    assert _run(lab_env, tmp_path, "--yes") == 2
    assert "another perform holds the lease" in _run.output
    assert _run(lab_env, tmp_path, "--yes", "--break-lease") == 0, _run.output
    addresses = open_session(lab_profile.region).client("ec2").describe_addresses()["Addresses"]
    assert len(addresses) == before + 1  # the one allocated before the kill, now associated
    assert all(a.get("AssociationId") for a in addresses)
