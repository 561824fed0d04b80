"""The run history: one JSON line per run in ``<reports-dir>/history.jsonl``, and what changed.

A nightly run is only useful if it says what is *new*: a check that has failed for a week is
not news, the one that broke tonight is. Each run appends its record (the status of every
check it evaluated) and is compared with the earlier runs of the same profile in that file.

The comparison (``compare``) is pure; the file handling around it is thin and never breaks a
run: a missing history is a first run, an unreadable or corrupt one is reported in one line,
moved aside, and a fresh history starts with this run. Format and kinds: docs/report.md.
"""

from __future__ import annotations

import itertools
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runbook.profile import History

SCHEMA = 1
FILE_NAME = "history.jsonl"
# The file is rewritten with its last KEEP_RUNS lines once it holds more: the comparisons read
# the whole file every run, and 500 runs (over a year of nightly runs) stay within a few MB.
KEEP_RUNS = 500
STATES = ("pass", "fail", "error")  # evaluated; skips are not recorded
KINDS = ("new_failure", "fixed", "could_not_check")
FIRST_RUN = "no history yet: this is the first run"
FRESH_START = "a fresh history starts with this run"
UNUSABLE = "no usable history: compared with nothing"


class HistoryCorrupt(Exception):
    """The history file cannot be used; the message says where and why, in one line."""


def record_of(report: dict[str, Any]) -> dict[str, Any]:
    """The history line of a finished run: who, when, and the status of each evaluated check."""
    run, profile = report["run"], report["profile"]
    return {
        "schema": SCHEMA,
        "started": run["started"],
        "profile": profile["name"],
        # the file, however the command line spelled it (the CLI passes it absolute)
        "source": os.path.realpath(profile["source"])
        if os.path.isfile(profile["source"])
        else profile["source"],
        "mode": run["mode"],
        "exit_status": run["exit_status"],
        "checks": {
            check["id"]: {"section": section["id"], "status": check["status"]}
            for section in report["sections"]
            for check in section["checks"]
            if check["status"] in STATES
        },
    }


def parse(text: str) -> list[dict[str, Any]]:
    """The records of a history file's text (blank lines ignored); HistoryCorrupt on the first
    line that is not a record of this schema."""
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError:
            raise HistoryCorrupt(f"line {number} is not JSON") from None
        problem = _invalid(data)
        if problem:
            raise HistoryCorrupt(f"line {number}: {problem}")
        records.append(data)
    return records


def _invalid(data: Any) -> str | None:
    """Why ``data`` is not a history record, or None."""
    if not isinstance(data, dict):
        return "not a JSON object"
    if data.get("schema") != SCHEMA:
        return f"schema {data.get('schema')!r}, expected {SCHEMA}"
    for key in ("started", "profile", "source"):
        if not isinstance(data.get(key), str):
            return f"{key!r} is missing or not a string"
    checks = data.get("checks")
    if not isinstance(checks, dict):
        return "'checks' is missing or not an object"
    for check_id, check in checks.items():
        if not (
            isinstance(check, dict)
            and check.get("status") in STATES
            and isinstance(check.get("section"), str)
        ):
            return f"check {check_id!r} is not {{section, status: pass|fail|error}}"
    return None


def _same_profile(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (a["profile"], a["source"]) == (b["profile"], b["source"])


def _statuses(records: Sequence[dict[str, Any]], check_id: str) -> list[tuple[str, str]]:
    """(started, status) of ``check_id`` in the records that evaluated it, oldest first."""
    return [
        (r["started"], r["checks"][check_id]["status"]) for r in records if check_id in r["checks"]
    ]


def kind_of(before: str | None, after: str) -> str | None:
    """The kind of change from ``before`` (None: never evaluated) to ``after``, or None.

    A failure or an error never seen before is news (so a first run that is not healthy is
    announced); a check that passes again after a failure or an error is fixed.
    """
    if after == before:
        return None
    if after == "fail":
        return "new_failure"
    if after == "error":
        return "could_not_check"
    if after == "pass" and before is not None:
        return "fixed"
    return None


def compare(
    previous: Sequence[dict[str, Any]], current: dict[str, Any], runs: int, flapping_changes: int
) -> dict[str, Any]:
    """What changed in ``current`` since the earlier runs of its profile (name and source).

    ``previous`` holds the history's records, oldest first, of any profile. Each check is
    compared with the last earlier run that evaluated it (a run that did not select it says
    nothing about it). ``since`` is when the current unbroken run of fails began (runs that did
    not evaluate the check do not break it); ``changes`` counts the check's changes of state
    over the profile's last ``runs`` runs, this one included, and it flaps from
    ``flapping_changes`` changes.
    """
    mine = [r for r in previous if _same_profile(r, current)]
    timeline = [*mine, current]
    window = timeline[-runs:]
    changes = []
    for check_id, now in current["checks"].items():
        before = _statuses(mine, check_id)
        last_run, last = before[-1] if before else (None, None)
        kind = kind_of(last, now["status"])
        if kind:
            changes.append(
                {
                    "id": check_id,
                    "section": now["section"],
                    "kind": kind,
                    "from": last,
                    "to": now["status"],
                    "previous_run": last_run,
                }
            )
    checks = {}
    for check_id in dict.fromkeys(c for r in window for c in r["checks"]):
        states = [status for _, status in _statuses(window, check_id)]
        flips = sum(a != b for a, b in itertools.pairwise(states))
        checks[check_id] = {
            "since": _failing_since(timeline, check_id),
            "changes": flips,
            "flapping": flips >= flapping_changes,
        }
    return {
        "previous_run": mine[-1]["started"] if mine else None,
        "runs_compared": len(mine),
        "changes": changes,
        "checks": checks,
    }


def _failing_since(timeline: Sequence[dict[str, Any]], check_id: str) -> str | None:
    """When the current unbroken run of fails of ``check_id`` began; None unless it fails now."""
    if timeline[-1]["checks"].get(check_id, {}).get("status") != "fail":
        return None
    since = None
    for started, status in reversed(_statuses(timeline, check_id)):
        if status != "fail":
            break
        since = started
    return since


# --- The file -----------------------------------------------------------------------------


@dataclass
class Loaded:
    """A history file as read: its records, or why it could not be used."""

    records: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None  # one line: corrupt or unreadable, and what was done about it
    writable: bool = True  # False when a bad file could not be moved aside: leave it alone
    ends_with_newline: bool = True
    rewrite: bool = False  # a partial last line was dropped: write the file afresh


def load(path: Path, now: datetime) -> Loaded:
    """Read the history; a bad one is moved aside to ``<name>.corrupt-<UTC time>``."""
    if not os.path.lexists(path):
        return Loaded()
    try:
        if not path.is_file():
            raise HistoryCorrupt("not a regular file")
        text = path.read_text(encoding="utf-8")
        return _parsed(text)
    except HistoryCorrupt as exc:
        why = str(exc)
    except UnicodeDecodeError:
        why = "not UTF-8 text"
    except OSError as exc:
        why = f"unreadable: {exc.strerror or exc}"
    aside = path.with_name(f"{path.name}.corrupt-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}")
    try:
        if os.path.lexists(aside):
            raise FileExistsError(f"{aside.name} exists")
        path.rename(aside)
    except OSError as exc:
        return Loaded(
            problem=f"history {path} is unusable ({why}) and could not be moved aside "
            f"({exc.strerror or exc}): this run is not recorded; move it away by hand",
            writable=False,
        )
    return Loaded(
        problem=f"history {path} was unusable ({why}): moved aside to {aside.name}; {FRESH_START}"
    )


def _parsed(text: str) -> Loaded:
    """The records of the file's text. A last line without its newline that is not a record
    was being written when a run died: it alone is dropped (said in one line), not the
    history before it."""
    complete = not text or text.endswith("\n")
    try:
        return Loaded(parse(text), ends_with_newline=complete)
    except HistoryCorrupt:
        if complete:
            raise
    body, _, partial = text.rpartition("\n")
    return Loaded(
        parse(body),
        problem=f"history's last line was cut short ({len(partial)} characters): dropped",
        rewrite=True,
    )


def save(path: Path, loaded: Loaded, current: dict[str, Any], keep: int = KEEP_RUNS) -> None:
    """Append ``current``; once the file would hold more than ``keep`` runs, replace it
    (atomically) by its last ``keep``. Raises OSError."""
    line = json.dumps(current, separators=(",", ":")) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    if len(loaded.records) < keep and not loaded.rewrite:
        with path.open("a", encoding="utf-8") as out:
            out.write(line if loaded.ends_with_newline else "\n" + line)
        return
    kept = loaded.records[max(0, len(loaded.records) - keep + 1) :]
    temporary = path.with_name(f"{path.name}.tmp")
    temporary.write_text(
        "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in kept) + line,
        encoding="utf-8",
    )
    os.replace(temporary, path)


def apply(
    report: dict[str, Any], reports_dir: Path, settings: History, now: datetime | None = None
) -> None:
    """Record the run in the history and add what changed to the report (docs/report.md):
    ``report["history"]``, each section's ``changes`` and each check's ``history``."""
    path = reports_dir / FILE_NAME
    loaded = load(path, now or datetime.now(UTC))
    current = record_of(report)
    found = compare(loaded.records, current, settings.runs, settings.flapping_changes)
    problems = [loaded.problem] if loaded.problem else []
    recorded = loaded.writable
    if recorded:
        try:
            save(path, loaded, current)
        except OSError as exc:
            recorded = False
            problems.append(f"could not write history {path} ({exc.strerror or exc})")
    summaries = {c["id"]: c["summary"] for s in report["sections"] for c in s["checks"]}
    changes = [{**c, "summary": summaries[c["id"]]} for c in found["changes"]]
    if found["previous_run"]:
        note = f"since the last run ({found['previous_run']})"
    elif not loaded.writable:
        note = UNUSABLE
    else:
        note = FRESH_START if loaded.problem else FIRST_RUN
    counts = Counter(c["kind"] for c in changes)
    report["history"] = {
        "file": str(path),
        "recorded": recorded,
        "previous_run": found["previous_run"],
        "runs_compared": found["runs_compared"],
        "window": {"runs": settings.runs, "flapping_changes": settings.flapping_changes},
        "note": note,
        "problem": "; ".join(problems) or None,
        "counts": {k: counts.get(k, 0) for k in KINDS},
        "changes": changes,
        "flapping": [],  # check ids, in the guide's order
    }
    for section in report["sections"]:
        mine = Counter(c["kind"] for c in changes if c["section"] == section["id"])
        section["changes"] = {k: mine.get(k, 0) for k in KINDS}
        for check in section["checks"]:
            quiet = {"since": None, "changes": 0, "flapping": False}
            check["history"] = found["checks"].get(check["id"], quiet)
            if check["history"]["flapping"]:
                report["history"]["flapping"].append(check["id"])
