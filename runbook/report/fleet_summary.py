"""The fleet's summary: deployments × sections, in fleet.json, fleet.html and the terminal.

One run writes it over the deployments it verified; ``merge`` makes the same summary from the
fleet.json of several shards (each CI job verified one), so a sharded fleet reads as one.
Every deployment's own report stays in its folder; the summary links to it.
"""

from __future__ import annotations

import json
import os
import re
from html import escape
from pathlib import Path
from typing import Any

from runbook.errors import ExitStatus, UsageError
from runbook.fleet import NAME
from runbook.report import writers
from runbook.sections import SECTIONS

SCHEMA_VERSION = 1
KIND = "notifier-runbook fleet"
FILE_NAME = "fleet.json"
PAGE_NAME = "fleet.html"
# One character a cell in the terminal, as pytest marks its tests.
CELL = {"pass": ".", "fail": "F", "error": "E", "skip": "s", "waived": "w", "not_selected": " "}
VERDICTS = {int(s): s.name.lower().replace("_", "-") for s in ExitStatus}


def entry(
    name: str,
    tags: tuple[str, ...],
    *,
    report: dict[str, Any] | None,
    cause: str | None,
    exit_status: int,
    folder: str,
    duration_s: float,
) -> dict[str, Any]:
    """A deployment's row: its sections' statuses and what fails, or why nothing was checked."""
    row: dict[str, Any] = {
        "name": name,
        "tags": list(tags),
        "exit_status": exit_status,
        "verdict": VERDICTS.get(exit_status, str(exit_status)),
        "cause": cause,
        "folder": folder,
        "duration_s": round(duration_s, 2),
        "sections": {},
        "failing": [],
        "could_not_check": [],
        "profile": None,
        "region": None,
        "account": None,
        "interrupted": False,
    }
    if report is not None:
        row.update(
            sections={s["id"]: s["status"] for s in report["sections"]},
            failing=writers.failing(report)[0],
            could_not_check=[
                ch["id"]
                for s in report["sections"]
                for ch in s["checks"]
                if ch["status"] == "error"
            ],
            profile=report["profile"]["source"],
            region=report["profile"]["region"],
            account=report["run"].get("account"),
            interrupted=bool(report["run"].get("interrupted")),
        )
    return row


def summary(
    rows: list[dict[str, Any]], *, started: str, duration_s: float, shards: list[str]
) -> dict[str, Any]:
    """fleet.json: the rows by name, the counts of each verdict, and the worst exit status."""
    rows = sorted(rows, key=lambda r: r["name"])
    counts = {v: sum(1 for r in rows if r["verdict"] == v) for v in VERDICTS.values()}
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "run": {"started": started, "duration_s": round(duration_s, 2), "shards": shards},
        "sections": [{"id": s.id, "title": s.title} for s in SECTIONS],
        "deployments": rows,
        "counts": {k: n for k, n in counts.items() if n},
        "exit_status": int(worst([r["exit_status"] for r in rows])),
    }


def worst(statuses: list[int]) -> ExitStatus:
    """The worst of the deployments' exit statuses, as one run's: a fail beats a check that
    could not be made."""
    for status in (ExitStatus.UNHEALTHY, ExitStatus.COULD_NOT_CHECK):
        if status in statuses:
            return status
    return ExitStatus.HEALTHY


def write(out: Path, fleet: dict[str, Any]) -> dict[str, str]:
    """fleet.json and fleet.html in ``out``; the files that could not be written, and why."""
    from runbook.report.files import write_atomic

    unwritten = {}
    for name, text in ((FILE_NAME, json.dumps(fleet, indent=2) + "\n"), (PAGE_NAME, page(fleet))):
        try:
            out.mkdir(parents=True, exist_ok=True)
            write_atomic(out / name, text)
        except OSError as exc:
            unwritten[str(out / name)] = exc.strerror or str(exc)
    return unwritten


def merge(folders: list[Path], out: Path) -> dict[str, Any]:
    """One summary from the shards' folders (each holding a fleet.json), the deployments'
    folders linked from ``out``. A deployment in two shards, a folder without a summary, or a
    summary of another kind is a UsageError (one line)."""
    rows: dict[str, dict[str, Any]] = {}
    shards, started, duration = [], [], 0.0
    for folder in folders:
        part = _read(folder / FILE_NAME)
        shards += part["run"].get("shards") or [str(folder)]
        started.append(part["run"]["started"])
        duration = max(duration, float(part["run"].get("duration_s") or 0))
        for row in part["deployments"]:
            if not isinstance(row.get("name"), str) or not re.fullmatch(NAME, row["name"]):
                raise UsageError(f"{folder / FILE_NAME}: {row.get('name')!r} is not a deployment")
            if row["name"] in rows:
                raise UsageError(
                    f"{folder / FILE_NAME}: deployment {row['name']!r} is also in another "
                    "shard's summary: merge the shards of one run (the same N)"
                )
            # the shard wrote each deployment's reports in <its folder>/<name>
            linked = os.path.relpath((folder / row["name"]).absolute(), out.absolute())
            rows[row["name"]] = {**row, "folder": linked}
    return summary(list(rows.values()), started=min(started), duration_s=duration, shards=shards)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"{path}: no fleet summary there (give the folders a fleet run wrote, "
            "its --reports-dir)"
        ) from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable fleet summary ({exc})") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise UsageError(f"{path}: not a fleet summary (a notifier-runbook fleet.json)")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise UsageError(
            f"{path}: fleet summary schema {data.get('schema_version')!r}, this version reads "
            f"{SCHEMA_VERSION}: merge with the version that wrote it"
        )
    return data


def lines(fleet: dict[str, Any], out: Path) -> list[str]:
    """The terminal's matrix (a row per deployment, a column per section), then each
    unhealthy deployment's failing checks or cause, then the fleet's verdict."""
    rows = fleet["deployments"]
    if not rows:
        return [f"no deployment in this run's share of the fleet (shards {fleet['run']['shards']})"]
    width = max(len("deployment"), *(len(r["name"]) for r in rows))
    vwidth = max(len(v) for v in VERDICTS.values())
    numbers = " ".join(f"{i + 1:>2}" for i in range(len(SECTIONS)))
    out_lines = [f"{'deployment':<{width}}  {'verdict':<{vwidth}}  {numbers}"]
    for r in rows:
        cells = " ".join(
            f"{CELL.get(r['sections'].get(s.id, 'not_selected'), '?'):>2}" for s in SECTIONS
        )
        if r["cause"]:
            cells = "(not checked)"
        out_lines.append(f"{r['name']:<{width}}  {r['verdict']:<{vwidth}}  {cells}".rstrip())
    out_lines.append("sections: " + ", ".join(f"{i + 1} {s.id}" for i, s in enumerate(SECTIONS)))
    out_lines.append(
        "cells: . pass  F fail  E could not check  s skipped  w waived  blank: not selected"
    )
    for r in rows:
        if r["cause"]:
            out_lines.append(f"{r['name']}: {r['cause']}")
        elif r["failing"] or r["could_not_check"]:
            said = []
            if r["failing"]:
                said.append(f"fails {_some(r['failing'])}")
            if r["could_not_check"]:
                said.append(f"could not check {_some(r['could_not_check'])}")
            report = Path(out, r["folder"], "report.html")
            out_lines.append(f"{r['name']}: {'; '.join(said)} ({report})")
    out_lines.append(verdict(fleet, out))
    return out_lines


NAMED = 5  # checks named on a deployment's line; its report has them all


def _some(ids: list[str]) -> str:
    more = len(ids) - NAMED
    return ", ".join(ids[:NAMED]) + (f" and {more} more" if more > 0 else "")


def verdict(fleet: dict[str, Any], out: Path) -> str:
    status = ExitStatus(fleet["exit_status"])
    counts = ", ".join(f"{n} {v}" for v, n in fleet["counts"].items())
    total = len(fleet["deployments"])
    return (
        f"fleet verdict: {VERDICTS[int(status)]} (exit status {int(status)}): {counts} of "
        f"{total} deployment{'s' if total != 1 else ''}; summary: {out / PAGE_NAME}, "
        f"{out / FILE_NAME}"
    )


def page(fleet: dict[str, Any]) -> str:
    """fleet.html: the matrix, each cell the section's status, each row linked to the
    deployment's own report.html (a relative link: the folders can be moved together)."""
    status = ExitStatus(fleet["exit_status"])
    head = "".join(
        f'<th scope="col" title="{escape(s["title"])}"><span>{escape(s["id"])}</span></th>'
        for s in fleet["sections"]
    )
    body = []
    for r in fleet["deployments"]:
        link = escape(f"{r['folder']}/report.html", quote=True)
        name = escape(r["name"]) if r["cause"] else f'<a href="{link}">{escape(r["name"])}</a>'
        name = f'<th scope="row">{name}</th>'
        tags = f'<td class="tags">{escape(" ".join(r["tags"]))}</td>'
        word = f'<td class="verdict {escape(r["verdict"])}">{escape(r["verdict"])}</td>'
        if r["cause"]:
            cells = (
                f'<td class="cause" colspan="{len(fleet["sections"])}">{escape(r["cause"])}</td>'
            )
        else:
            cells = "".join(
                _cell(r["sections"].get(s["id"], "not_selected"), s) for s in fleet["sections"]
            )
        body.append(f'<tr data-verdict="{escape(r["verdict"])}">{name}{tags}{word}{cells}</tr>')
    counts = ", ".join(f"{n} {v}" for v, n in fleet["counts"].items()) or "no deployment"
    title = f"notifier fleet: {VERDICTS[int(status)]}"
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>\n<body>"
        f'<h1>notifier fleet health</h1><p class="verdict {escape(VERDICTS[int(status)])}" '
        f'id="verdict">{escape(VERDICTS[int(status)])} (exit status {int(status)}): '
        f"{escape(counts)}</p>"
        f'<p class="meta">started {escape(fleet["run"]["started"])}, took '
        f"{fleet['run']['duration_s']:g} s; shards: {escape(', '.join(fleet['run']['shards']))}</p>"
        f'<table id="fleet"><thead><tr><th scope="col">deployment</th><th scope="col">tags</th>'
        f'<th scope="col">verdict</th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
        "</body></html>\n"
    )


def _cell(status: str, section: dict[str, Any]) -> str:
    word = {"error": "could not check", "not_selected": "not selected"}.get(status, status)
    mark = CELL.get(status, "?").strip() or "·"
    return (
        f'<td class="cell {escape(status)}" data-section="{escape(section["id"])}" '
        f'title="{escape(section["title"])}: {escape(word)}">{escape(mark)}</td>'
    )


STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1300px;padding:1rem;color:#1d1d1f}
h1{font-size:1.4rem;margin:.2rem 0}.meta{color:#666}
.verdict{font-weight:600;padding:.2rem .5rem;border-radius:4px}
.verdict.healthy{background:#e3f5e1}.verdict.unhealthy{background:#fde2e1}
.verdict.could-not-check{background:#fff3cd}
table{border-collapse:collapse;margin-top:1rem}th,td{border:1px solid #ddd;padding:.2rem .4rem}
thead th span{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:normal;font-size:12px}
.cell{text-align:center;font:12px ui-monospace,monospace;min-width:1.4rem}
.cell.pass{background:#cdeccd}.cell.fail{background:#f6b9b5}.cell.error{background:#ffe08a}
.cell.waived{background:#d7e3fc}.cell.skip{background:#f0f0f0}.cell.not_selected{color:#bbb}
.tags{color:#666;font-size:12px}.cause{color:#7a5b00}
"""
