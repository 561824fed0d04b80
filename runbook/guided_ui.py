"""The guided walk in a terminal, drawn and asked with rich.

Colours only where the terminal has them: rich leaves them out when the output is not a
terminal, when ``TERM=dumb`` or ``NO_COLOR`` is set. Answers are one key and Enter.
"""

from __future__ import annotations

import select
import sys
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape
from rich.prompt import Prompt

from runbook.findings import Finding, Status
from runbook.guide_keys import KEYS, Answer
from runbook.guided import Position, leading
from runbook.narrative import Step
from runbook.report.writers import differs_line

STYLE = {
    Status.PASS: "green",
    Status.FAIL: "red",
    Status.ERROR: "yellow",
    Status.SKIP: "dim",
    Status.WAIVED: "blue",
}
WORD = {
    Status.PASS: "pass",
    Status.FAIL: "FAIL",
    Status.ERROR: "could not check",
    Status.SKIP: "skip",
    Status.WAIVED: "waived",
}


WAKE_S = 0.2  # how often the main thread looks up from waiting for a key


class _Prompt(Prompt):
    """rich's prompt, waiting for the answer in short looks rather than one blocking read: a
    signal (Ctrl-C, TERM, HUP) the kernel hands to another of the process's threads (a pool's
    worker) is then acted on by the main thread at once, not after the next key."""

    @classmethod
    def get_input(
        cls, console: Console, prompt: Any, password: bool, stream: TextIO | None = None
    ) -> str:
        if stream is not None or password or not _selectable(sys.stdin):
            return super().get_input(console, prompt, password, stream)
        console.print(prompt, end="")
        while not select.select([sys.stdin], [], [], WAKE_S)[0]:
            pass
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return line.rstrip("\n")


def _selectable(stream: TextIO) -> bool:
    try:
        stream.fileno()
    except (OSError, ValueError, AttributeError):
        return False
    return True


class TerminalUI:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False)

    def position(self, where: Position, step: Step) -> None:
        self.console.rule(
            f"section {where.section} of {where.sections}: {escape(where.title)} · "
            f"step {where.step} of {where.steps}",
            style="cyan",
        )

    def already_done(self, step: Step, findings: list[Finding]) -> None:
        self.console.print(f"[green]✓ already done:[/] {escape(step.step.says)}")

    def show(self, step: Step, findings: list[Finding], by_hand: bool) -> None:
        c = self.console
        c.print(f"[bold]{escape(step.step.says)}[/]")
        c.print(f"  [dim]{escape(step.step.instruction)}[/]")
        for f in findings:
            c.print(f"  [{STYLE[f.status]}]{WORD[f.status]:>15}[/] {escape(f.summary)}")
        todo = [s for f in leading(findings) for s in f.steps]
        if not todo:
            return
        c.print("  [bold]by hand:[/]" if by_hand else "  [bold]plan:[/]")
        for n, s in enumerate(todo, 1):
            mark = "[magenta]by hand[/]" if s.state == "manual" else "[cyan]perform[/]"
            c.print(f"   {n}. {mark} {escape(s.says)}")
            for call in s.calls:
                c.print(f"        [dim]{escape(call)}[/]")

    def ask(self, choices: list[Answer]) -> Answer:
        keys = {KEYS[a]: a for a in choices}
        words = ", ".join(f"{KEYS[a]} {a}" for a in choices)
        key = _Prompt.ask(f"[bold]{words}[/]", choices=list(keys), console=self.console)
        return keys[key]

    def details(self, findings: list[Finding]) -> None:
        for f in findings:
            data = f.to_dict()
            self.console.print(f"[bold]{f.check_id}[/] [{STYLE[f.status]}]{WORD[f.status]}[/]")
            for key in ("resource", "expected", "actual"):
                if data.get(key) is not None:
                    self.console.print(f"  {key}: {escape(str(data[key]))[:400]}")
            if data.get("differs") is not None:
                self.console.print(f"  differs: {escape(differs_line(data['differs']))}")
            if f.console:
                self.console.print(f"  console: {escape(f.console)}")

    def planned(self, document: dict[str, Any], path: str) -> None:
        steps = document["steps"]
        self.console.rule(f"plan: {len(steps)} step(s) to do")
        for entry in steps:
            calls = sum(len(p["calls"]) for p in entry["plan"])
            what = f"{calls} AWS call(s)" if entry["by"] == "perform" else "by hand"
            self.console.print(f"  {entry['step']}: {escape(entry['says'])} [dim]({what})[/]")
        self.console.print(
            f"written to {path}; once approved: notifier-runbook guide --approve {path}"
        )

    def progress(self, line: str) -> None:
        self.console.print(f"  {escape(line)}")

    def outcome(self, step: Step, status: str, findings: list[Finding]) -> None:
        colour = {"applied": "green", "attested": "blue", "skipped": "yellow"}.get(status, "red")
        still = [f for f in findings if f.status not in (Status.PASS, Status.SKIP, Status.WAIVED)]
        self.console.print(f"[{colour}]→ {status}[/] {escape(step.step.says)}")
        for f in still:
            self.console.print(f"  [{STYLE[f.status]}]{WORD[f.status]:>15}[/] {escape(f.summary)}")

    def end(
        self,
        verdict: str,
        findings: list[Finding],
        journal: str,
        stopped_at: str = "",
        unverified: dict[str, str] | None = None,
    ) -> None:
        colour = "green" if verdict == "healthy" else "red"
        at = f" at: {escape(stopped_at)}" if stopped_at else ""
        self.console.rule(f"[{colour}]guide: {verdict}{at}[/]")
        for f in findings:
            self.console.print(
                f"  [{STYLE[f.status]}]{WORD[f.status]:>15}[/] {f.check_id}: {escape(f.summary)}"
            )
        if unverified:
            self.console.print(f"[yellow]{len(unverified)} check(s) not made this time:[/]")
            by_cause: dict[str, list[str]] = {}
            for check_id, why in unverified.items():
                by_cause.setdefault(why, []).append(check_id)
            for why, checks in by_cause.items():
                self.console.print(f"  {escape(why)}:")
                self.console.print(f"    [dim]{', '.join(checks)}[/]")
        if verdict == "quit":
            self.console.print("stopped here: run `notifier-runbook guide` again to go on")
        elif verdict == "failed":
            self.console.print(
                "this step still fails: do it (the plan above), then run `notifier-runbook "
                "guide` again"
            )
        self.console.print(f"journal: {journal}")
