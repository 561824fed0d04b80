"""Guided execution: the guide's steps in order, each verified first, done on approval.

The walk reads the feature files' narrative (runbook/narrative.py): a step whose checks all
hold is *already done* and passed over; otherwise the person sees what the step is, how its
checks stand and what will be done (perform's plan with its AWS calls, or the manual
instructions), and decides. Nothing is remembered between runs but the journal: each run
verifies again and goes on at the first step that is not healthy, whatever happened in
between, and perform's idempotency means no step is applied twice.

The terminal is the ``GuideUI``'s business (runbook/guided_ui.py); this module decides.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from runbook.engine import not_applicable
from runbook.errors import ExitStatus, UsageError
from runbook.findings import Finding, Status
from runbook.guide_keys import Answer
from runbook.journal import Journal
from runbook.narrative import Step, narrative
from runbook.profile import Profile
from runbook.registry import Check, by_id
from runbook.report.files import write_atomic
from runbook.run import Run
from runbook.sections import SECTION_BY_ID

HEALTHY = (Status.PASS, Status.SKIP, Status.WAIVED)


@dataclass(frozen=True)
class Position:
    section: int  # k of n sections, from 1
    sections: int
    step: int  # i of m steps of the section, from 1
    steps: int
    title: str


class GuideUI(Protocol):
    """What the walk shows and asks; the terminal's or a test's."""

    def position(self, where: Position, step: Step) -> None: ...
    def already_done(self, step: Step, findings: list[Finding]) -> None: ...
    def show(self, step: Step, findings: list[Finding], by_hand: bool) -> None: ...
    def ask(self, choices: list[Answer]) -> Answer: ...
    def details(self, findings: list[Finding]) -> None: ...
    def progress(self, line: str) -> None: ...
    def outcome(self, step: Step, status: str, findings: list[Finding]) -> None: ...
    def end(
        self,
        verdict: str,
        findings: list[Finding],
        journal: str,
        stopped_at: str = "",
        unverified: dict[str, str] | None = None,
    ) -> None: ...
    def planned(self, document: dict[str, Any], path: str) -> None: ...


@dataclass
class Guide:
    run: Run  # a verify run: its checks judge, its performer applies
    ui: GuideUI
    journal: Journal
    yes: bool = False  # apply every plan without asking; a manual step must already hold
    identity: str = ""  # the caller's AWS identity (ARN)
    break_lease: bool = False  # take perform's lease from a holder that is gone (killed)
    leased: bool = field(default=False, init=False)
    # each step's plans perform has applied in this walk: the same plan is never applied twice
    applied: dict[str, list[Any]] = field(default_factory=dict, init=False)

    def walk(self) -> ExitStatus:
        """Every applicable step in order, then once more the steps left behind (skipped, or
        under ``--yes`` not holding yet: a step may need a later one, as the Lambda's Elastic
        IPs need its interfaces in the VPC); then the final verify. The exit status is the
        deployment's, or UNHEALTHY when the person quit or ``--yes`` met a step that still
        does not hold the second time."""
        steps = [s for s in narrative() if self._applies(s)]
        sections = list(dict.fromkeys(s.section for s in steps))
        self._begin("--yes" if self.yes else "interactive", steps)

        def where(step: Step) -> Position:
            mine = [s for s in steps if s.section == step.section]
            return Position(
                sections.index(step.section) + 1,
                len(sections),
                mine.index(step) + 1,
                len(mine),
                SECTION_BY_ID[step.section].title,
            )

        try:
            left = []
            for step in steps:
                got = self._take(step, where(step), last=False)
                if got == "quit":
                    return self._stop("quit", step)
                if got == "skipped":
                    left.append(step)
            if left:
                self.ui.progress(f"back to the {len(left)} step(s) left behind")
            for step in left:
                got = self._take(step, where(step), last=True)
                if got in ("quit", "failed"):
                    return self._stop(got, step)
        except KeyboardInterrupt:
            self.journal.write("end", verdict="interrupted", stopped_at=None)
            raise
        return self._finish()

    def _begin(self, answers: str, steps: list[Step]) -> None:
        self.journal.write(
            "start",
            profile=self.run.profile.name,
            source=self.run.profile.source,
            region=self.run.profile.region,
            account=self.run.account,
            identity=self.identity,
            user=getpass.getuser(),
            steps=[s.step.id for s in steps],
            answers=answers,
        )

    # --- one step ----------------------------------------------------------------------------

    def _take(self, step: Step, where: Position, *, last: bool) -> str:
        """Verify, show, ask, act, until the step holds or is left: "done", "skipped",
        "quit", or "failed" (``--yes``, the ``last`` time the step is taken)."""
        self.ui.position(where, step)
        findings = self._judge(step)
        if _done(findings):
            self.ui.already_done(step, findings)
            self._outcome(step, "already-done", findings)
            return "done"
        while True:
            # a step's plan may come in rounds (the rule, then its targets); a plan applied
            # once and still there is not applied again: what perform left is a person's
            by_hand = not _actionable(findings) or self._was_applied(step, findings)
            self.ui.show(step, findings, by_hand)
            self.journal.write(
                "shown",
                section=step.section,
                step=step.step.id,
                checks=_statuses(findings),
                plan=_plan(findings),
                by="hand" if by_hand else "perform",
            )
            answer = self._answer(by_hand)
            self.journal.write("answer", section=step.section, step=step.step.id, answer=answer)
            if answer == "quit":
                return "quit"
            if answer == "skip":
                self._outcome(step, "skipped", findings)
                return "skipped"
            if answer == "details":
                self.ui.details(findings)
                continue
            if answer == "apply":
                # the person took their time: what is applied is the plan they saw, or nothing
                self.run.inventory.invalidate()
                fresh = self._judge(step)
                if _plan(fresh) != _plan(findings):
                    self.ui.progress("the deployment changed while the plan was shown: see it now")
                    self.journal.write("changed", section=step.section, step=step.step.id)
                    findings = fresh
                    if _done(findings):
                        self._outcome(step, "already-done", findings)
                        return "done"
                    continue
                findings = self._apply(step, fresh)
            else:  # done by hand: what changed is read again
                self.run.inventory.invalidate()
                findings = self._judge(step)
            if _done(findings):
                by = "perform" if answer == "apply" else "hand"
                self._outcome(step, "applied", findings, by=by)
                return "done"
            if answer == "done" and not _failing(findings):
                self._attest(step, findings)
                return "done"
            next_round = _actionable(findings) and not self._was_applied(step, findings)
            if self.yes and not next_round:
                if not last:  # perhaps a later step is what it needs
                    self._outcome(step, "skipped", findings, deferred=True)
                    return "skipped"
                self._outcome(step, "failed", findings)
                return "failed"
            self.ui.outcome(step, "still-failing", findings)
            if answer == "apply":
                self.ui.progress(
                    "the step's next round: its plan now"
                    if next_round
                    else "perform has done its part of this step; what still fails is by "
                    "hand (d when done), or s to leave it for now"
                )

    def _was_applied(self, step: Step, findings: list[Finding]) -> bool:
        return _plan(findings) in self.applied.get(step.step.id, [])

    def _answer(self, by_hand: bool) -> Answer:
        if self.yes:
            return "done" if by_hand else "apply"
        if by_hand:
            return self.ui.ask(["done", "skip", "details", "quit"])
        return self.ui.ask(["apply", "done", "skip", "details", "quit"])

    def _apply(self, step: Step, findings: list[Finding]) -> list[Finding]:
        """Each failing check's plan through perform (which applies, then checks again)."""
        self._lease()
        self.applied.setdefault(step.step.id, []).append(_plan(findings))
        performer = self.run.performer
        before = Counter(performer.session.log.calls)
        refused = {}
        for found in leading(findings):  # the plan shown, no more
            if found.status == Status.FAIL and any(s.state != "manual" for s in found.steps):
                fixed = performer.fix(by_id(found.check_id), found)
                if any(s.state == "failed" for s in fixed.steps):
                    refused[found.check_id] = fixed.summary
        made = Counter(performer.session.log.calls) - before
        self.journal.write(
            "calls",
            section=step.section,
            step=step.step.id,
            calls=dict(sorted(made.items())),
            failed=refused,
        )
        # perform's own check again is per check; the step is judged whole, from fresh reads
        self.run.inventory.invalidate()
        return self._judge(step)

    def _attest(self, step: Step, findings: list[Finding]) -> None:
        """Done by hand, and what could not be checked is taken on the person's word."""
        unchecked = [f.check_id for f in findings if f.status in (Status.ERROR, Status.SKIP)]
        self.journal.write(
            "attestation",
            section=step.section,
            step=step.step.id,
            checks=unchecked,
            identity=self.identity,
            user=getpass.getuser(),
        )
        self._outcome(step, "attested", findings)

    def _outcome(self, step: Step, status: str, findings: list[Finding], **extra: Any) -> None:
        self.journal.write(
            "step",
            section=step.section,
            step=step.step.id,
            says=step.step.says,
            status=status,
            checks=_statuses(findings),
            **extra,
        )
        if status != "already-done":
            self.ui.outcome(step, status, findings)

    # --- a plan approved elsewhere ------------------------------------------------------------

    def plan_document(self) -> dict[str, Any]:
        """What the walk would do now, step by step, without asking or doing: the steps that
        are not healthy, their checks and plans; a digest binds it to this deployment."""
        steps = []
        for step in (s for s in narrative() if self._applies(s)):
            findings = self._judge(step)
            if not _done(findings):
                steps.append(
                    {
                        "section": step.section,
                        "step": step.step.id,
                        "says": step.step.says,
                        "by": "perform" if _actionable(findings) else "hand",
                        "checks": _statuses(findings),
                        "plan": _plan(findings),
                    }
                )
        p = self.run.profile
        bound = {"profile": p.name, "region": p.region, "account": self.run.account}
        return {"schema": 1, **bound, "steps": steps, "digest": plan_digest(bound, steps)}

    def plan_only(self, out: Path) -> ExitStatus:
        self._begin("--plan-only", [s for s in narrative() if self._applies(s)])
        document = self.plan_document()
        write_atomic(out, json.dumps(document, indent=2, default=str) + "\n")
        self.journal.write(
            "plan", file=str(out), digest=document["digest"], steps=document["steps"]
        )
        self.journal.write("end", verdict="planned", stopped_at=None)
        self.ui.planned(document, str(out))
        return ExitStatus.HEALTHY

    def approve(self, path: Path) -> ExitStatus:
        """Apply exactly the approved plan's perform steps, in order, or refuse in one line
        (UsageError) when the deployment has changed so that the plan would differ."""
        approved = load_plan(path)
        self._begin(f"--approve {approved['digest']}", [s for s in narrative() if self._applies(s)])
        now = self.plan_document()
        for key in ("profile", "region", "account"):
            if approved.get(key) != now[key]:
                raise UsageError(
                    f"refused: {path} is a plan for {key} {approved.get(key)!r}, this is "
                    f"{now[key]!r}; make one here with `guide --plan-only`"
                )
        if approved["steps"] != now["steps"]:
            change = _first_change(approved, now)
            raise UsageError(
                f"refused: the deployment changed since {path} was made ({change}); nothing "
                "was applied; make a new plan with `guide --plan-only`"
            )
        self.journal.write("approved", file=str(path), digest=approved["digest"])
        by_id_of = {s.step.id: s for s in narrative()}
        for entry in approved["steps"]:
            step = by_id_of[entry["step"]]
            findings = self._judge(step)
            if _done(findings):  # an earlier step of the plan did it (a rule in two lists)
                self._outcome(step, "already-done", findings, why="done by an earlier step")
                continue
            if entry["by"] == "hand":
                self._outcome(step, "skipped", findings, why="a manual step: not approvable")
                continue
            if _plan(findings) != entry["plan"]:
                self._outcome(step, "failed", findings, why="its plan changed while applying")
                return self._stop("failed", step)
            findings = self._apply(step, findings)
            self._outcome(step, "applied" if _done(findings) else "failed", findings)
        return self._finish()

    # --- the run around the steps ------------------------------------------------------------

    def _judge(self, step: Step) -> list[Finding]:
        """The step's checks that apply to the profile's variants."""
        mine = [by_id(c) for c in step.checks]
        return [self.run.check(c) for c in mine if not not_applicable(c, self.run.profile)]

    def _applies(self, step: Step) -> bool:
        return any(not not_applicable(by_id(c), self.run.profile) for c in step.checks)

    def _lease(self) -> None:
        """Perform's lease, before the first write: no other perform or guide acts at once."""
        if not self.leased:
            broken = self.run.take_lease(
                self.identity or getpass.getuser(), break_lease=self.break_lease
            )
            self.leased = True
            if broken:
                self.ui.progress(f"WARNING: {broken}")

    def _stop(self, why: str, step: Step) -> ExitStatus:
        self.journal.write("end", verdict=why, stopped_at=step.step.id)
        self.ui.end(why, [], str(self.journal.path), stopped_at=step.step.says)
        return ExitStatus.UNHEALTHY

    def _finish(self) -> ExitStatus:
        """The final verify: every check of the profile, read afresh."""
        self.run.inventory.invalidate()
        mine = [c for c in _all_checks() if not not_applicable(c, self.run.profile)]
        findings = [self.run.check(c) for c in mine]
        bad = [f for f in findings if f.status not in HEALTHY]
        # skipped now, not by the variants: healthy as verify counts it, said all the same
        unverified = {f.check_id: f.summary for f in findings if f.status == Status.SKIP}
        verdict = (
            "healthy"
            if not bad
            else "unhealthy"
            if any(f.status == Status.FAIL for f in bad)
            else "could-not-check"
        )
        self.journal.write(
            "end",
            verdict=verdict,
            stopped_at=None,
            failing={f.check_id: str(f.status) for f in bad},
            unverified=unverified,
            calls=self.run.aws_calls(),
        )
        self.ui.end(verdict, bad, str(self.journal.path), unverified=unverified)
        return {
            "healthy": ExitStatus.HEALTHY,
            "unhealthy": ExitStatus.UNHEALTHY,
        }.get(verdict, ExitStatus.COULD_NOT_CHECK)


def untimed(profile: Profile) -> Profile:
    """A guided walk goes at a person's pace: no limit on the whole run (``timeouts.run_s``),
    each AWS call still bounded by its own time-outs."""
    timeouts = profile.timeouts.model_copy(update={"run_s": float("inf")})
    return profile.model_copy(update={"timeouts": timeouts})


def load_plan(path: Path) -> dict[str, Any]:
    """A plan file as ``guide --plan-only`` wrote it; UsageError (one line) otherwise."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a plan file ({exc})") from None
    if not isinstance(document, dict) or document.get("schema") != 1:
        raise UsageError(f"{path}: not a plan file of `guide --plan-only`")
    bound = {k: document.get(k) for k in ("profile", "region", "account")}
    if document.get("digest") != plan_digest(bound, document.get("steps")):
        raise UsageError(f"{path}: the plan was edited after it was made: make it again")
    return document


def plan_digest(bound: dict[str, Any], steps: Any) -> str:
    text = json.dumps({**bound, "steps": steps}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _first_change(approved: dict[str, Any], now: dict[str, Any]) -> str:
    before = {s["step"]: s for s in approved["steps"]}
    after = {s["step"]: s for s in now["steps"]}
    for step in [*before, *after]:
        if before.get(step) != after.get(step):
            if step not in after:
                return f"{step} holds now"
            if step not in before:
                return f"{step} fails now"
            return f"{step}'s plan differs"
    return "the plan differs"


def _all_checks() -> list[Check]:
    return [by_id(c) for s in narrative() for c in s.checks]


def _done(findings: list[Finding]) -> bool:
    """Every check of the step holds, and at least one was made: a step whose checks were all
    skipped now (the database stopped, no run yet) is not verified, whatever it looks like."""
    return all(f.status in HEALTHY for f in findings) and any(
        f.status != Status.SKIP for f in findings
    )


def _failing(findings: list[Finding]) -> bool:
    return any(f.status == Status.FAIL for f in findings)


def leading(findings: list[Finding]) -> list[Finding]:
    """The step's failing checks, less those failing for the same reason as an earlier one
    ("instance X does not exist" for all four of the launch's checks): their own plans assume
    what the first makes, and are judged again, as the step's next round, once it is made."""
    seen: set[str] = set()
    out = []
    for f in findings:
        if f.status in (Status.FAIL, Status.ERROR) and f.summary not in seen:
            seen.add(f.summary)
            out.append(f)
    return out


def _actionable(findings: list[Finding]) -> bool:
    """Perform has something to do for a failing check of the step."""
    return any(
        f.status == Status.FAIL and any(s.state != "manual" for s in f.steps)
        for f in leading(findings)
    )


def _statuses(findings: list[Finding]) -> dict[str, str]:
    return {f.check_id: str(f.status) for f in findings}


def _plan(findings: list[Finding]) -> list[dict[str, Any]]:
    return [{"check": f.check_id, **s.to_dict()} for f in leading(findings) for s in f.steps]
