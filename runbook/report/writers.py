"""Writers for the report: summary.json, summary.md, inventory.json and the terminal table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runbook.errors import ExitStatus
from runbook.findings import Status

MARK = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "skip": "skip"}


def exit_status(report_totals: dict[str, int]) -> ExitStatus:
    if report_totals.get(Status.FAIL.value):
        return ExitStatus.UNHEALTHY
    if report_totals.get(Status.ERROR.value):
        return ExitStatus.COULD_NOT_CHECK
    return ExitStatus.HEALTHY


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")


def table(report: dict[str, Any]) -> list[str]:
    """The section-health table, one line per section in guide order."""
    rows = [("section", "status", "pass", "fail", "error", "skip", "advisories")]
    for s in report["sections"]:
        c = s["counts"]
        adv = sum(len(ch["advisories"]) for ch in s["checks"])
        rows.append(
            (
                s["title"],
                MARK[s["status"]],
                str(c["pass"]),
                str(c["fail"]),
                str(c["error"]),
                str(c["skip"]),
                str(adv) if adv else "",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def problems(report: dict[str, Any]) -> list[str]:
    """One line per failed or unchecked check, with what the guide says to do."""
    out = []
    for s in report["sections"]:
        for ch in s["checks"]:
            if ch["status"] in ("fail", "error"):
                out.append(f"{MARK[ch['status']]} {s['id']}/{ch['id']}: {ch['summary']}")
                if ch["status"] == "fail":
                    out.append(
                        f"    expected {_short(ch['expected'])}; actual {_short(ch['actual'])}"
                    )
                    out.append(f"    guide: {ch['guide']}")
    return out


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def markdown(report: dict[str, Any]) -> str:
    run, prof = report["run"], report["profile"]
    variants = ", ".join(f"{k} = {v}" for k, v in prof["variants"].items())
    out = [
        f"# Notifier deployment health: {prof['name']} ({prof['region']})",
        "",
        f"- mode: **{run['mode']}**{' (dry run)' if run['dry_run'] else ''}; started "
        f"{run['started']}; {run['duration_s']} s; exit status {run['exit_status']}",
        f"- profile: `{prof['source']}`; phase {prof['phase']}; {variants}",
        "- totals: " + ", ".join(f"{v} {k}" for k, v in report["totals"].items()),
        "",
        "| section | status | pass | fail | error | skip |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for s in report["sections"]:
        c = s["counts"]
        out.append(
            f"| {s['title']} | {MARK[s['status']]} | {c['pass']} | {c['fail']} | "
            f"{c['error']} | {c['skip']} |"
        )
    for s in report["sections"]:
        out += ["", f"## {s['title']} — {MARK[s['status']]}", "", f"Guide: {s['guide']}", ""]
        for ch in s["checks"]:
            out.append(f"- **{MARK[ch['status']]}** {ch['says']} (`{ch['id']}`): {ch['summary']}")
            if ch["status"] == "fail":
                out.append(
                    f"  - expected `{_short(ch['expected'])}`, actual `{_short(ch['actual'])}`"
                )
                out.append(f"  - fix: {ch['guide']}")
            for adv in ch["advisories"]:
                out.append(f"  - advisory: {adv}")
            for act in ch["actions"]:
                out.append(f"  - performed: {act}")
            if ch["details"].get("next_fire_times"):
                out.append(f"  - next fire times: {', '.join(ch['details']['next_fire_times'])}")
    out += ["", "## AWS calls", "", "| call | count |", "| --- | ---: |"]
    out += [f"| {k} | {v} |" for k, v in report["aws_calls"].items()]
    return "\n".join(out) + "\n"
