"""Writers for the report: summary.json, summary.md, inventory.json and the terminal table."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from runbook.errors import ExitStatus
from runbook.findings import Status
from runbook.registry import SEVERITIES
from runbook.report.files import write_atomic

MARK = {
    "pass": "PASS",
    "fail": "FAIL",
    "error": "ERROR",
    "skip": "skip",
    "waived": "WAIVED",
    "not_selected": "not selected",
}
COUNTED = ("pass", "fail", "error", "skip", "waived")
KIND_WORDS = {
    "new_failure": "new failure",
    "fixed": "fixed",
    "could_not_check": "could not check",
    "checked_again": "checked again",
}
INCIDENTS_SHOWN = 5


def failing(report: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The failed checks that fail the run (--fail-on and above), and those below it."""
    rank = SEVERITIES.index(report["run"].get("fail_on", "low"))
    fails = [ch for s in report["sections"] for ch in s["checks"] if ch["status"] == "fail"]
    counted = [ch["id"] for ch in fails if SEVERITIES.index(ch["severity"]) <= rank]
    return counted, [ch["id"] for ch in fails if ch["id"] not in counted]


def exit_status(report: dict[str, Any]) -> ExitStatus:
    if failing(report)[0]:
        return ExitStatus.UNHEALTHY
    if report["totals"].get(Status.ERROR.value):
        return ExitStatus.COULD_NOT_CHECK
    return ExitStatus.HEALTHY


def verdict(report: dict[str, Any]) -> str:
    """The last line: the verdict, its exit status, what -m left out, and the fails --fail-on
    did not count."""
    status = ExitStatus(report["run"]["exit_status"])
    line = f"verdict: {status.name.lower().replace('_', '-')} (exit status {int(status)})"
    if report["run"].get("interrupted"):
        line += "; interrupted before every check was made"
    left_out = [s["id"] for s in report["sections"] if s["status"] == "not_selected"]
    if left_out:
        chosen = [s["id"] for s in report["sections"] if s["status"] != "not_selected"]
        line += f" for the sections selected ({', '.join(chosen)}); {len(left_out)} not selected"
    below = failing(report)[1]
    if below:
        line += f"; {len(below)} fail(s) below --fail-on {report['run']['fail_on']} not counted"
    waived = report.get("waivers", {}).get("applied", [])
    if waived:
        line += f"; {len(waived)} waived"
    return line


def not_judged_line(report: dict[str, Any]) -> list[str]:
    """Keys the profile sets that only perform reads: said once, so nobody takes them for
    checked."""
    keys = report["profile"].get("not_judged") or []
    if not keys:
        return []
    return [
        f"profile keys only perform reads, not judged by this verify: {', '.join(keys)} "
        "(verify follows the resources' own relationships; see docs/profile.md)"
    ]


def waiver_lines(report: dict[str, Any]) -> list[str]:
    """What the waivers did: each check waived, each waiver past its date (it applies no
    more: its check fails again), each that found nothing to accept."""
    w = report.get("waivers") or {}
    if not w.get("file"):
        return []
    if w["ignored"]:
        return [f"waivers of {w['file']} ignored (--ignore-waivers)"]
    out = []
    for s in report["sections"]:
        out += [
            f"WAIVED {s['id']}/{ch['id']}: {ch['summary']}"
            for ch in s["checks"]
            if ch["status"] == "waived"
        ]
    out += [
        f"EXPIRED waiver for {x['check']} (approved by {x['approved_by']}) ended on "
        f"{x['expires']}: it applies no more"
        for x in w["expired"]
    ]
    out += [
        f"unused waiver for {x['check']} (until {x['expires']}): {x['why']}" for x in w["unused"]
    ]
    return out


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


def table(report: dict[str, Any]) -> list[str]:
    """The section-health table, one line per section in guide order."""
    rows = [("section", "status", *COUNTED, "advisories")]
    for s in report["sections"]:
        c = s["counts"]
        adv = sum(len(ch["advisories"]) for ch in s["checks"])
        counts = [str(c[k]) for k in COUNTED]
        if s["status"] == "not_selected":
            counts = [""] * len(COUNTED)
        rows.append((s["title"], MARK[s["status"]], *counts, str(adv) if adv else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


STATE_WORDS = {
    "planned": "perform would",
    "applied": "done",
    "failed": "FAILED",
    "manual": "by hand",
}


def record(ch: dict[str, Any], section: str, profile: dict[str, Any]) -> list[str]:
    """What to do about a failed check, the same in the terminal, summary.md, JUnit and allure:
    the resource, only what differs, the guide's step, where in the console, and the command
    (perform's, when it has an action; else the manual steps in words)."""
    out = []
    if ch.get("resource"):
        out.append(f"resource: {ch['resource']} ({profile['region']})")
    out.append(f"differs: {differs_line(ch.get('differs'))}")
    out.append(f"guide: {ch['guide']}")
    if ch.get("console"):
        out.append(f"console: {ch['console']}")
    out += changed_lines(ch)
    steps = ch.get("steps") or []
    if any(step["state"] != "manual" for step in steps):
        out.append(
            f"fix: notifier-runbook perform --profile {profile['source']} -m {section} "
            "(--dry-run first shows the calls)"
        )
    for step in steps:
        out.append(f"  {STATE_WORDS[step['state']]}: {step['says']}")
    return out


def changed_lines(ch: dict[str, Any]) -> list[str]:
    """``--blame``: the newest writes CloudTrail holds for a failing check's resource, or why
    there are none."""
    changed = ch.get("changed_by")
    if not isinstance(changed, dict):
        return []
    out = [
        f"changed: {c.get('when')} by {c.get('who')}: {c.get('call')} on {c.get('resource')}"
        for c in changed.get("changes") or []
        if isinstance(c, dict)
    ]
    if changed.get("note"):
        out.append(f"changed: {changed['note']}")
    return out


def blame_lines(report: dict[str, Any]) -> list[str]:
    """How many CloudTrail look-ups ``--blame`` made, and why it stopped early if it did."""
    blame = report.get("blame")
    if not isinstance(blame, dict):
        return []
    note = f"; {blame['note']}" if blame.get("note") else ""
    made = blame.get("lookups")
    return [f"blame: {made if made is not None else 'some'} CloudTrail look-up(s){note}"]


def differs_line(diff: Any) -> str:
    """``missing [...]; extra [...]`` or ``key: expected X, actual Y; ...``, in one line."""
    if not isinstance(diff, dict):
        return _short(diff)
    if set(diff) == {"missing", "extra"}:
        return "; ".join(f"{k} {_short(v)}" for k, v in diff.items() if v) or "nothing listed"
    if set(diff) == {"expected", "actual"}:
        return f"expected {_short(diff['expected'])}, actual {_short(diff['actual'])}"
    return "; ".join(f"{k}: {differs_line(v)}" for k, v in diff.items()) or "nothing listed"


def problems(report: dict[str, Any]) -> list[str]:
    """Each failed or unchecked check once, under its id, with what to do about it; a failure
    that is new since the last run says so here (the history part does not list it again)."""
    news = {
        c["id"]: c
        for c in (report.get("history") or {}).get("changes", [])
        if c["kind"] == "new_failure"
    }
    out = []
    for s in report["sections"]:
        for ch in s["checks"]:
            if ch["status"] not in ("fail", "error"):
                continue
            severity = f" ({ch['severity']})" if ch["status"] == "fail" else ""
            line = f"{MARK[ch['status']]}{severity} {s['id']}/{ch['id']}: {ch['summary']}"
            since = failing_since(report, ch)
            if ch["id"] in news:
                incidents = new_incidents(news[ch["id"]])
                line += f" [new{': ' + incidents if incidents else ''}]"
            elif since:
                line += f" (failing since {since})"
            out.append(line)
            if ch["status"] == "fail":
                out += [f"    {x}" for x in record(ch, s["id"], report["profile"])]
    return out


def plan_lines(report: dict[str, Any]) -> list[str]:
    """Perform's plan (a dry run) or what it did, in guide order: numbered steps with their AWS
    calls, then the manual steps apart; never a plan called done."""
    if report["run"]["mode"] != "perform":
        return []
    steps = report["plan"]
    acted = [s for s in steps if s["state"] != "manual"]
    manual = [s for s in steps if s["state"] == "manual"]
    if report["run"]["dry_run"]:
        head = "perform plan (dry run, nothing changed):"
    else:
        done = sum(s["state"] == "applied" for s in acted)
        head = f"perform: {done} of {len(acted)} step(s) done:"
    out = [head]
    # one step that fixes several checks (a rule two checks judge) is listed once
    grouped: dict[tuple[str, tuple[str, ...], str], list[str]] = {}
    for step in acted:
        key = (step["says"], tuple(step["calls"]), step["state"])
        grouped.setdefault(key, []).append(f"{step['section']}/{step['id']}")
    for n, ((says, calls, state), checks) in enumerate(grouped.items(), 1):
        out.append(f"{n}. {', '.join(checks)}: {says} [{state}]")
        out += [f"     {c}" for c in calls]
    if manual:
        out.append(f"manual steps (perform does not do these): {len(manual)}")
        out += [f"- {s['section']}/{s['id']}: {s['says']}" for s in manual]
    return out


def failing_since(report: dict[str, Any], check: dict[str, Any]) -> str | None:
    """When a check failing now began to fail, if before this run (from the history)."""
    since = (check.get("history") or {}).get("since")
    return since if since and since != report["run"]["started"] else None


def change_counts(counts: dict[str, int]) -> str:
    """``1 new failure, 0 fixed, 0 could not check`` (and ``, 1 checked again`` if any)."""
    new = counts["new_failure"]
    again = counts.get("checked_again", 0)
    return (
        f"{new} new failure{'' if new == 1 else 's'}, {counts['fixed']} fixed, "
        f"{counts['could_not_check']} could not check"
        + (f", {again} checked again" if again else "")
    )


def history_headline(history: dict[str, Any]) -> str:
    """What this run is compared with, and how many changes it found."""
    joint = ": " if history["previous_run"] else "; "
    return history["note"] + joint + change_counts(history["counts"])


def change_line(change: dict[str, Any]) -> str:
    """One change: ``new failure: vpc/<check> (pass → fail): <summary>``, and the incidents
    that make a failure that went on new (``; new: missed 2026-11-23T05:00Z``)."""
    before = change["from"] or "not checked before"
    line = (
        f"{KIND_WORDS[change['kind']]}: {change['section']}/{change['id']} "
        f"({before} → {change['to']}): {change['summary']}"
    )
    new = new_incidents(change)
    return f"{line}; new: {new}" if new else line


def new_incidents(change: dict[str, Any]) -> str:
    """The incidents that make a failure that went on new: ``missed <hour>, ... and 3 more``."""
    new = change.get("new_incidents") or []
    more = len(new) - INCIDENTS_SHOWN
    return ", ".join(new[:INCIDENTS_SHOWN]) + (f" and {more} more" if more > 0 else "")


def uncovered_line(history: dict[str, Any]) -> str | None:
    """The hours between the last run's look-back window and this one's, if any."""
    gap = history.get("uncovered")
    if not gap:
        return None
    return (
        f"WARNING: {gap['hours']} h from {gap['start']} to {gap['end']} were in no run's "
        "look-back window (a run was skipped or ran late; a longer operations.lookback_hours "
        "makes the windows overlap)"
    )


def to_announce(history: dict[str, Any], channel: str) -> list[dict[str, Any]]:
    """The changes a notification on ``channel`` tells of: since the last run, or since the
    last whose notification reached it."""
    missed = history["unannounced"].get(channel)
    return missed["changes"] if missed else history["changes"]


def announcement(history: dict[str, Any], channel: str) -> list[str]:
    """What a notification on ``channel`` says of the history: the headline, the changes it
    has not been told of, and hours no run looked back over."""
    missed = history["unannounced"].get(channel)
    if missed:
        counts = Counter(c["kind"] for c in missed["changes"])
        told = (
            f"since the last run whose changes reached it ({missed['since']})"
            if missed["since"]
            else "no run's changes have reached it yet"
        )
        counted = change_counts({k: counts.get(k, 0) for k in KIND_WORDS})
        lines = [f"{told}; a later notification failed: {counted}"]
    else:
        lines = [history_headline(history)]
    lines += [f"- {change_line(c)}" for c in to_announce(history, channel)]
    gap = uncovered_line(history)
    return [*lines, gap] if gap else lines


def history_lines(report: dict[str, Any]) -> list[str]:
    """The terminal's part on history and notifications (none in a dry run)."""
    history = report.get("history")
    if history is None:
        return []
    out = [f"WARNING: {history['problem']}"] if history["problem"] else []
    gap = uncovered_line(history)
    out += [gap] if gap else []
    out.append(history_headline(history))
    # new failures are marked where they are listed, once (problems)
    out += [f"  {change_line(c)}" for c in history["changes"] if c["kind"] != "new_failure"]
    out += [f"  flapping: {line}" for line in _flapping(report)]
    for sent in report.get("notifications", []):
        if sent["sent"]:
            out.append(f"notified: {sent['to']}")
        else:
            out.append(f"WARNING: could not notify {sent['to']}: {sent['error']}")
    return out


def _flapping(report: dict[str, Any]) -> list[str]:
    """``<section>/<check> changed state <k> times in the last <N> runs``, per flapping check."""
    runs = report["history"]["window"]["runs"]
    return [
        f"{s['id']}/{ch['id']} changed state {ch['history']['changes']} times in the last "
        f"{runs} runs"
        for s in report["sections"]
        for ch in s["checks"]
        if ch["history"]["flapping"]
    ]


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def markdown(report: dict[str, Any]) -> str:
    run, prof = report["run"], report["profile"]
    variants = ", ".join(f"{k} = {v}" for k, v in prof["variants"].items())
    # Short enough for a CI job summary: the verdict, what fails and what changed first, the
    # table, then each section's detail folded (<details>, which GitHub renders).
    out = [
        f"# Notifier deployment health: {prof['name']} ({prof['region']})",
        "",
        f"**{verdict(report)}**",
        "",
        f"- mode: **{run['mode']}**{' (dry run)' if run['dry_run'] else ''}; started "
        f"{run['started']}; {run['duration_s']} s; exit status {run['exit_status']}",
        f"- profile: `{prof['source']}`; phase {prof['phase']}; {variants}",
        "- totals: " + ", ".join(f"{v} {k}" for k, v in report["totals"].items()),
        *(f"- {line}" for line in not_judged_line(report)),
    ]
    bad = problems(report)
    if bad:
        fails = sum(line.startswith(MARK["fail"]) for line in bad)
        errors = sum(line.startswith(MARK["error"]) for line in bad)
        out += ["", f"## Failures ({fails} failed, {errors} could not be checked)", ""]
        # AWS's text inside raw HTML (<details> below, GitHub's renderer here) stays text
        out += [_html_text(f"  - {x.strip()}" if x.startswith(" ") else f"- {x}") for x in bad]
        out += [_html_text(f"- {line}") for line in blame_lines(report)]
    history = report.get("history")
    if history is not None:
        out += _markdown_changes(report, history)
    out += [
        "",
        "## Sections",
        "",
        "| section | status | " + " | ".join(COUNTED) + " |",
        "| --- | --- |" + " ---: |" * len(COUNTED),
    ]
    for s in report["sections"]:
        c = s["counts"]
        counts = [str(c[k]) for k in COUNTED]
        if s["status"] == "not_selected":
            counts = [""] * len(COUNTED)
        out.append(f"| {s['title']} | {MARK[s['status']]} | {' | '.join(counts)} |")
    waived = waiver_lines(report)
    if waived:
        out += ["", "## Waivers", ""] + [f"- {line}" for line in waived]
    out += ["", "## Details"]
    for s in report["sections"]:
        if s["status"] == "not_selected":
            continue
        out += ["", f"<details><summary>{s['title']} — {MARK[s['status']]}</summary>", ""]
        text = [f"Guide: {s['guide']}", ""]
        if any(s.get("changes", {}).values()):
            text += [f"Since the last run: {change_counts(s['changes'])}.", ""]
        for ch in s["checks"]:
            severity = f" ({ch['severity']})" if ch["status"] == "fail" else ""
            text.append(
                f"- **{MARK[ch['status']]}**{severity} {ch['says']} (`{ch['id']}`): {ch['summary']}"
            )
            if ch["status"] == "fail":
                text += [f"  - {x.strip()}" for x in record(ch, s["id"], report["profile"])]
            since = failing_since(report, ch)
            if since:
                text.append(f"  - failing since {since}")
            if history is not None and ch["history"]["flapping"]:
                text.append(
                    f"  - flapping: changed state {ch['history']['changes']} times in the "
                    f"last {history['window']['runs']} runs"
                )
            for adv in ch["advisories"]:
                text.append(f"  - advisory: {adv}")
            if ch["status"] != "fail":  # a fail's steps are in its record above
                text += [f"  - {STATE_WORDS[st['state']]}: {st['says']}" for st in ch["steps"]]
            if ch["details"].get("next_fire_times"):
                text.append(f"  - next fire times: {', '.join(ch['details']['next_fire_times'])}")
        out += [_html_text(line) for line in text]  # AWS's text: never a tag
        out += ["", "</details>"]
    calls = report["aws_calls"]
    out += ["", f"<details><summary>AWS calls: {sum(calls.values())}</summary>", ""]
    out += ["| call | count |", "| --- | ---: |", *(f"| {k} | {v} |" for k, v in calls.items())]
    out += ["", "</details>"]
    return "\n".join(out) + "\n"


def _markdown_changes(report: dict[str, Any], history: dict[str, Any]) -> list[str]:
    """The "Changes since the last run" part: the comparison, changes, flapping, notices."""
    out = ["", "## Changes since the last run", "", history_headline(history) + "."]
    if history["problem"]:
        out += ["", f"> **warning**: {history['problem']}"]
    gap = uncovered_line(history)
    if gap:
        out += ["", f"> **warning**: {gap.removeprefix('WARNING: ')}"]
    if history["changes"]:
        out += ["", "| change | section | check | from | to | summary |"]
        out.append("| --- | --- | --- | --- | --- | --- |")
        out += [
            f"| {KIND_WORDS[c['kind']]} | {c['section']} | `{c['id']}` | {c['from'] or '—'} | "
            f"{c['to']} | {_cell(c['summary'])}"
            + (f" (new: {_cell(new_incidents(c))})" if c.get("new_incidents") else "")
            + " |"
            for c in history["changes"]
        ]
    flapping = _flapping(report)
    notices = [
        f"notified: {n['to']}" if n["sent"] else f"could not notify {n['to']}: {n['error']}"
        for n in report.get("notifications", [])
    ]
    if flapping or notices:
        out.append("")
        out += [f"- flapping: {line}" for line in flapping]
        out += [f"- {line}" for line in notices]
    return out


def _html_text(text: str) -> str:
    """Markdown text where a ``<`` or ``&`` from AWS cannot open a tag (``</details>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;")


def _cell(text: str) -> str:
    """Text for a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")
