"""A run's report files in its folder: summary.json, summary.md, report.html, inventory.json and
the history, written under the folder's lock. pytest's plugin writes one run's; a fleet writes
each deployment's in a folder of its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from runbook.redact import scrub_data
from runbook.report import history, html, notify, writers
from runbook.report.files import write_atomic
from runbook.run import Run

LOCK_NAME = ".notifier-runbook.lock"
LOCK_WAIT_S = 300.0  # longer than a run's reporting (notifications are bounded by read_s)
INTERRUPTED_WAIT_S = 5.0  # an interrupted run does not wait long to leave its report


def reports_lock(out: Path, wait: float = LOCK_WAIT_S) -> FileLock:
    """The reports folder's lock (an OS lock: freed when its holder dies, however it dies)."""
    out.mkdir(parents=True, exist_ok=True)
    return FileLock(out / LOCK_NAME, timeout=wait)


@dataclass
class ReportFiles:
    """The files of one run's report in ``out``; ``unwritten`` says which could not be written
    and why (shared with the caller's own files: JUnit, allure)."""

    out: Path
    unwritten: dict[str, str] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list)  # this deployment's runs

    def write(self, run: Run, report: dict[str, Any], *, interrupted: bool, quiet: bool) -> None:
        """Compare with the history, write, announce, record. ``quiet`` (a dry run, an
        interrupted one) is neither recorded, compared nor announced."""
        wait = INTERRUPTED_WAIT_S if interrupted else LOCK_WAIT_S
        try:
            # Two runs sharing the folder take turns: each compares with the other's record,
            # so no history line is lost and no change is announced twice.
            with reports_lock(self.out, wait):
                self._report(run, report, quiet)
        except Timeout:
            report["notifications"] = []
            report["history"] = None
            self.unwritten[str(self.out)] = (
                f"another run held the reports folder for {wait:g} s: this run's "
                "report is not written, compared nor recorded"
            )
        except OSError as exc:  # the lock file itself cannot be made (a full disk)
            report["notifications"] = []
            self.unwritten[str(self.out / LOCK_NAME)] = exc.strerror or str(exc)

    def _report(self, run: Run, report: dict[str, Any], quiet: bool) -> None:
        out = self.out
        pending = None if quiet else history.apply(report, out, run.profile.history)
        self.timeline = [] if pending is None else history.timeline(pending)
        report["notifications"] = []
        announcing = pending is not None and notify.due(report, run)
        if pending is None or announcing:
            self._save(report)  # safe before a notification (bounded, not instant) is sent
        self.written(out / "inventory.json", scrub_data(run.inventory.snapshot()))
        if pending is None:
            return
        # The history is written last, with the channels the changes did not reach.
        report["notifications"] = notify.send(report, run) if announcing else []
        history.record(pending, report)
        report.update(
            aws_calls=run.aws_calls(),
            mutating_calls=run.mutating_calls(),
            lease_calls=run.lease_calls(),
        )
        self._save(report)

    def _save(self, report: dict[str, Any]) -> None:
        self.written(self.out / "summary.json", report)
        self.written(self.out / "summary.md", writers.markdown(report))
        try:
            page = html.render(report, self.timeline)
        except Exception as exc:  # the page is a view: it never costs the other reports
            self.unwritten[str(self.out / "report.html")] = f"{type(exc).__name__}: {exc}"[:200]
            return
        self.written(self.out / "report.html", page)

    def written(self, path: Path, content: Any) -> None:
        """A report file, whole or not at all (JSON unless text). One that cannot be written
        (a full disk, a read-only file) is said in one line at the end; the verdict and the
        exit status stay the deployment's."""
        try:
            if isinstance(content, str):
                write_atomic(path, content)
            else:
                writers.write_json(path, content)
            self.unwritten.pop(str(path), None)
        except OSError as exc:
            self.unwritten[str(path)] = exc.strerror or str(exc)
