"""The run history: one JSON line per run in ``<reports-dir>/history.jsonl``, and what changed.

A nightly run is only useful if it says what is *new*: a check that has failed for a week is
not news, the one that broke tonight is, and so is tonight's missed hour of a check that
failed last night for another. Each run appends its record (the status of every check it
evaluated, the incidents of those failing, the channels its changes did not reach) and is
compared with the earlier runs of the same deployment in that file. The record is written
after the notifications: a channel a notification missed is told next time what it missed,
the others only what is new.

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
from runbook.report.files import write_atomic

SCHEMA = 1
FILE_NAME = "history.jsonl"
# The file is rewritten with its last KEEP_RUNS lines once it holds more: the comparisons read
# the whole file every run, and 500 runs (over a year of nightly runs) stay within a few MB.
KEEP_RUNS = 500
INCIDENTS_KEPT = 336  # a failing check's incidents kept per run: every hour of 14 days
STATES = ("pass", "fail", "error")  # evaluated; skips are not recorded
KINDS = ("new_failure", "fixed", "could_not_check", "checked_again")
CHANNELS = ("sns", "webhook")  # where changes are announced (runbook/report/notify.py)
FIRST_RUN = "no history yet: this is the first run"
FRESH_START = "a fresh history starts with this run"
UNUSABLE = "no usable history: compared with nothing"


class HistoryCorrupt(Exception):
    """The history file cannot be used; the message says where and why, in one line."""


def record_of(report: dict[str, Any]) -> dict[str, Any]:
    """The history line of a finished run: who, when, against what, and the status of each
    evaluated check (with its incidents when it fails)."""
    run, profile = report["run"], report["profile"]
    return {
        "schema": SCHEMA,
        "started": run["started"],
        "profile": profile["name"],
        # the file, however the command line spelled it (the CLI passes it absolute)
        "source": os.path.realpath(profile["source"])
        if os.path.isfile(profile["source"])
        else profile["source"],
        "account": run.get("account"),
        "lookback": run.get("lookback"),
        "mode": run["mode"],
        "exit_status": run["exit_status"],
        "checks": {
            check["id"]: _check_record(section["id"], check)
            for section in report["sections"]
            for check in section["checks"]
            if check["status"] in STATES
        },
    }


def _check_record(section: str, check: dict[str, Any]) -> dict[str, Any]:
    out = {"section": section, "status": check["status"]}
    if check["status"] == "fail" and "incidents" in check["details"]:
        out["incidents"] = sorted(check["details"]["incidents"])[:INCIDENTS_KEPT]
    return out


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
    lookback = data.get("lookback")
    if lookback is not None and not (
        isinstance(lookback, dict)
        and isinstance(lookback.get("hours"), int)
        and all(_is_time(lookback.get(k)) for k in ("start", "end"))
    ):
        return "'lookback' is not {hours, asked, start, end}"
    if lookback is not None and not _a_window(lookback.get("start"), lookback.get("end")):
        return "'lookback' has one bound without the other, or ends before it starts"
    missed = data.get("unannounced", [])
    if not (isinstance(missed, list) and all(isinstance(c, str) for c in missed)):
        return "'unannounced' is not a list of channels"
    checks = data.get("checks")
    if not isinstance(checks, dict):
        return "'checks' is missing or not an object"
    for check_id, check in checks.items():
        if not (
            isinstance(check, dict)
            and check.get("status") in STATES
            and isinstance(check.get("section"), str)
            and isinstance(check.get("incidents", []), list)
            and all(isinstance(i, str) for i in check.get("incidents", []))
        ):
            return f"check {check_id!r} is not {{section, status: pass|fail|error, incidents}}"
    return None


def _a_window(start: str | None, end: str | None) -> bool:
    """Both bounds (the run read a window) or neither; never ending before it starts."""
    if start is None or end is None:
        return start is None and end is None
    return datetime.fromisoformat(start) <= datetime.fromisoformat(end)


def _is_time(value: Any) -> bool:
    """None, or an ISO time with its zone (what the window's bounds are)."""
    if value is None:
        return True
    try:
        return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def _same_deployment(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Runs of one profile file against one account are one history, apart from runs whose
    look-back was asked for on the command line (``--lookback-hours 72`` by hand beside the
    nightly's): those are a history of their own per value asked.

    Another account (staging and production through ``AWS_PROFILE``) or another look-back
    would make false news of each other; the profile's own look-back may change and the
    history goes on. Records written before accounts and look-backs were recorded match any.
    """
    if (a["profile"], a["source"]) != (b["profile"], b["source"]):
        return False
    if None not in (a.get("account"), b.get("account")) and a["account"] != b["account"]:
        return False
    asked = [(r.get("lookback") or {}).get("asked", _ANY) for r in (a, b)]
    return _ANY in asked or asked[0] == asked[1]


_ANY = object()  # what an earlier version's record says of the look-back: it matches any


def _statuses(records: Sequence[dict[str, Any]], check_id: str) -> list[tuple[str, dict]]:
    """(started, check record) of ``check_id`` in the records that evaluated it, oldest first."""
    return [(r["started"], r["checks"][check_id]) for r in records if check_id in r["checks"]]


def change_of(before: Sequence[tuple[str, dict]], now: dict[str, Any]) -> dict[str, Any] | None:
    """The change from the check's earlier runs ``before`` (oldest first) to ``now``, or None.

    A run that could not check says nothing about the deployment: a pass or a fail is compared
    with the last run that judged the check, so a night of throttling neither makes an old
    failure new nor a steady pass fixed; coming back from it is ``checked_again``. A failure
    with incidents (the hours that went wrong) is new again when it names one the last judged
    run did not: tonight's missed hour is news even if last night's was too (a failure recorded
    without incidents, by an earlier version, names none that could be compared). A failure or an
    error never seen before is news (so a first run that is not healthy is announced).
    """
    last_run, last = before[-1] if before else (None, None)
    status = now["status"]
    judged = [b for b in before if b[1]["status"] != "error"]
    prior = judged[-1][1] if judged else None
    kind, new = None, []
    if status == "error":
        kind = None if last and last["status"] == "error" else "could_not_check"
    elif status == "fail" and (prior is None or prior["status"] == "pass"):
        kind = "new_failure"
    elif status == "fail":  # failing before: news only if it names what it did not name
        named = prior.get("incidents")  # None: recorded without (by an earlier version)
        new = [] if named is None else sorted(set(now.get("incidents", [])) - set(named))
        kind = "new_failure" if new else None
    elif prior is not None and prior["status"] == "fail":
        kind = "fixed"
    if kind is None and status != "error" and last and last["status"] == "error":
        kind = "checked_again"  # as it was before it could not be checked
    if kind is None:
        return None
    change = {
        "kind": kind,
        "from": last["status"] if last else None,
        "to": status,
        "previous_run": last_run,
    }
    if new:
        change["new_incidents"] = new
    return change


def compare(
    previous: Sequence[dict[str, Any]], current: dict[str, Any], runs: int, flapping_changes: int
) -> dict[str, Any]:
    """What changed in ``current`` since the earlier runs of its deployment.

    ``previous`` holds the history's records, oldest first, of any profile. Each check is
    compared with its earlier runs (``change_of``; a run that did not select it says nothing
    about it). ``since`` is when the current unbroken run of fails began (runs that did not
    evaluate the check or could not check it do not break it); ``changes`` counts the check's
    changes of state over the deployment's last ``runs`` runs, this one included, and it flaps
    from ``flapping_changes`` changes. ``uncovered`` is the stretch between the look-back
    window of the last run that judged the operations and this run's, when they do not meet.
    """
    mine = [r for r in previous if _same_deployment(r, current)]
    timeline = [*mine, current]
    window = timeline[-runs:]
    changes = []
    for check_id, now in current["checks"].items():
        change = change_of(_statuses(mine, check_id), now)
        if change:
            changes.append({"id": check_id, "section": now["section"], **change})
    checks = {}
    for check_id in dict.fromkeys(c for r in window for c in r["checks"]):
        states = [c["status"] for _, c in _statuses(window, check_id)]
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
        "uncovered": _uncovered(mine, current),
    }


def _failing_since(timeline: Sequence[dict[str, Any]], check_id: str) -> str | None:
    """When the current unbroken run of fails of ``check_id`` began; None unless it fails now."""
    if timeline[-1]["checks"].get(check_id, {}).get("status") != "fail":
        return None
    since = None
    for started, check in reversed(_statuses(timeline, check_id)):
        if check["status"] == "pass":
            break
        if check["status"] == "fail":
            since = started
    return since


def _uncovered(mine: Sequence[dict[str, Any]], current: dict[str, Any]) -> dict[str, Any] | None:
    """The hours no run of this deployment judged: between the look-back window of the last
    run that judged an operations check and this run's (a skipped night, a schedule that ran
    late). A run whose operations checks could not check covered nothing."""
    if not _judged_window(current):
        return None
    earlier = [r for r in mine if _judged_window(r)]
    if not earlier:
        return None
    start, end = earlier[-1]["lookback"]["end"], current["lookback"]["start"]
    gap = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    hours = int(gap.total_seconds() // 3600)
    return {"start": start, "end": end, "hours": hours} if hours > 0 else None


def _judged_window(record: dict[str, Any]) -> bool:
    """The run read a look-back window and judged (passed or failed) an operations check."""
    return bool((record.get("lookback") or {}).get("start")) and any(
        c["section"] == "operations" and c["status"] != "error" for c in record["checks"].values()
    )


def _owed(records: Sequence[dict[str, Any]], current: dict[str, Any], channel: str) -> list | None:
    """The deployment's runs up to the last whose changes reached ``channel``, when a later
    one's notification there failed (what it has not been told is since then); None when the
    channel is up to date."""
    mine = [r for r in records if _same_deployment(r, current)]
    if not mine or channel not in mine[-1].get("unannounced", []):
        return None
    told = [i for i, r in enumerate(mine) if channel not in r.get("unannounced", [])]
    return mine[: told[-1] + 1] if told else []


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
    return _set_aside(path, why, now)


def _set_aside(path: Path, why: str, now: datetime) -> Loaded:
    """Move an unusable history to ``<name>.corrupt-<UTC time>``: the next run starts afresh
    instead of failing on it every night."""
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
    write_atomic(path, "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in kept) + line)


@dataclass
class Pending:
    """A run compared with the history but not yet written to it: it is written once its
    changes have been announced, with the channels they did not reach."""

    path: Path
    loaded: Loaded
    record: dict[str, Any]


def apply(
    report: dict[str, Any], reports_dir: Path, settings: History, now: datetime | None = None
) -> Pending:
    """Compare the run with the history and add what changed to the report (docs/report.md):
    ``report["history"]``, each section's ``changes`` and each check's ``history``. Nothing is
    written: ``record`` does that, after the notifications."""
    path = reports_dir / FILE_NAME
    now = now or datetime.now(UTC)
    loaded = load(path, now)
    current = record_of(report)
    summaries = {c["id"]: c["summary"] for s in report["sections"] for c in s["checks"]}
    try:
        found, unannounced = _compared(loaded.records, current, settings, summaries)
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        # A record of the right shape that still cannot be compared: the history is set
        # aside like a corrupt one, never the reason a healthy run fails.
        why = f"a record cannot be compared ({type(exc).__name__}: {exc})"
        loaded = _set_aside(path, why[:200], now) if loaded.writable else loaded
        found, unannounced = _compared([], current, settings, summaries)
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
        "recorded": False,  # until ``record`` has written it
        "previous_run": found["previous_run"],
        "runs_compared": found["runs_compared"],
        "window": {"runs": settings.runs, "flapping_changes": settings.flapping_changes},
        "note": note,
        "problem": loaded.problem,
        "counts": {k: counts.get(k, 0) for k in KINDS},
        "changes": changes,
        "uncovered": found["uncovered"],
        # Per channel whose last notification failed: what changed since the last run whose
        # changes reached it (announced there instead of ``changes``).
        "unannounced": unannounced,
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
    return Pending(path, loaded, current)


def _compared(
    records: list[dict[str, Any]],
    current: dict[str, Any],
    settings: History,
    summaries: dict[str, str],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """What changed since the history, and per channel what it has not been told."""
    found = compare(records, current, settings.runs, settings.flapping_changes)
    unannounced = {}
    for channel in CHANNELS:
        owed = _owed(records, current, channel)
        if owed is not None:
            told = compare(owed, current, settings.runs, settings.flapping_changes)
            unannounced[channel] = {
                "since": told["previous_run"],
                "changes": [{**c, "summary": summaries[c["id"]]} for c in told["changes"]],
            }
    return found, unannounced


def timeline(pending: Pending) -> list[dict[str, Any]]:
    """This deployment's runs in the history, oldest first, this one last (for the trends)."""
    mine = [r for r in pending.loaded.records if _same_deployment(r, pending.record)]
    return [*mine, pending.record]


def record(pending: Pending, report: dict[str, Any]) -> None:
    """Write the run to the history, with the channels its changes did not reach
    (``report["notifications"]``); the report says whether it was written."""
    problems = [pending.loaded.problem] if pending.loaded.problem else []
    recorded = pending.loaded.writable
    missed = [n["channel"] for n in report.get("notifications", []) if not n["sent"]]
    if recorded:
        try:
            save(pending.path, pending.loaded, {**pending.record, "unannounced": missed})
        except OSError as exc:
            recorded = False
            problems.append(f"could not write history {pending.path} ({exc.strerror or exc})")
    report["history"].update(recorded=recorded, problem="; ".join(problems) or None)
