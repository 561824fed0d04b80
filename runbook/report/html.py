"""reports/report.html: one self-contained page a person opens after a run.

No network at all (styles and the small script inline, no CDN, no image file), readable with
JavaScript off (folding is HTML's own <details>; the script only filters), and ordered like
the guide: the verdict and the deployment first, then what fails with its fix, then every
section with its checks and their evidence folded away, and each section's last runs as a
strip of cells drawn from the history.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

from runbook.errors import ExitStatus
from runbook.registry import SEVERITIES
from runbook.report import writers

EVIDENCE_LIMIT = 4000  # characters of one check's evidence shown; the rest is in summary.json
TREND_RUNS = 20  # the last runs drawn in a section's strip
HOURS_SHOWN = 24  # the operations section's last hours, one cell each
HOUR = re.compile(r"\d{4}-\d\d-\d\dT\d\d:00Z")
# An hour's state from its incidents' words, the worst first.
HOUR_STATES = (
    ("missed", ("missed", "without")),
    ("failed", ("fail", "not succeeded")),
    ("late", ("late",)),
)
# The checks whose results the "at a glance" part shows.
NEXT_FIRES = "rule_fires_hourly_and_is_enabled"
COST = "monthly_cost_estimate_within_budget"
EIP_CHECK = "lambda_enis_have_one_elastic_ip_per_subnet"
NAT_CHECKS = (
    ("lambda_subnets_route_to_available_nat_gateway", "default_routes"),
    ("lambda_subnets_route_to_nat_instance", "routes"),
)
STATUS_WORD = {
    "pass": "pass",
    "fail": "fail",
    "error": "could not check",
    "skip": "skip",
    "waived": "waived",
    "not_selected": "not selected",
}


def render(report: dict[str, Any], records: list[dict[str, Any]] | None = None) -> str:
    """The page of ``report`` (summary.json's model); ``records`` are the history's lines of
    this deployment, oldest first, for the trends (this run's own included when recorded)."""
    trends = section_trends(report, records or [])
    body = [
        _header(report),
        _glance(report),
        _filters(report),
        _failures(report),
        '<section id="sections"><h2>Sections, in the guide\'s order</h2>',
        *(_section(report, s, trends.get(s["id"], [])) for s in report["sections"]),
        "</section>",
    ]
    title = f"{report['profile']['name']}: {writers.verdict(report)}"
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # Nothing may be fetched: no network, no file beside this one.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>\n"
        f"<body>{''.join(body)}<script>{SCRIPT}</script></body></html>\n"
    )


def _header(report: dict[str, Any]) -> str:
    run, profile = report["run"], report["profile"]
    # the exit status the run ended with (an interrupted run's is could-not-check), as the text
    status = ExitStatus(run["exit_status"]).name.lower().replace("_", "-")
    variants = ", ".join(f"{k} {v}" for k, v in profile["variants"].items())
    calls = report.get("aws_calls", {})
    facts = [
        ("profile", f"{profile['name']} ({profile['source']})"),
        ("account", run.get("account") or "unknown"),
        ("region", profile["region"]),
        ("variants", variants),
        ("mode", run["mode"] + (" (dry run)" if run.get("dry_run") else "")),
        ("started", run["started"]),
        ("took", f"{run.get('duration_s') or 0:g} s"),
        ("AWS calls", f"{sum(calls.values())} ({len(calls)} operations)"),
        *(("blame", line.removeprefix("blame: ")) for line in writers.blame_lines(report)),
    ]
    totals = " · ".join(
        f"{n} {STATUS_WORD[s]}"
        for s, n in _mapping(report.get("totals")).items()
        if n and s in STATUS_WORD
    )
    return (
        f'<header><h1>notifier deployment health</h1><p class="verdict {status}" '
        f'id="verdict">{escape(writers.verdict(report))}</p><p class="totals">{escape(totals)}'
        "</p><dl>"
        + "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in facts)
        + "</dl></header>"
    )


def _glance(report: dict[str, Any]) -> str:
    """What the checks computed that a person wants at a glance: when the schedule fires next,
    what the deployment costs a month, and the way the Lambda's traffic leaves the VPC."""
    judged = {
        c["id"]: c
        for s in report["sections"]
        for c in s["checks"]
        if c["status"] not in ("skip", "not_selected")
    }
    parts = []
    fires = _mapping(_mapping(judged.get(NEXT_FIRES)).get("details")).get("next_fire_times")
    if isinstance(fires, list) and fires:
        parts.append(
            "<div><h3>Next runs</h3><ul>"
            + "".join(f"<li>{_t(t)}</li>" for t in fires[:3])
            + "</ul></div>"
        )
    cost = judged.get(COST)
    breakdown = _mapping(_mapping(cost).get("evidence")).get("breakdown_usd")
    if cost and isinstance(breakdown, dict):
        rows = "".join(
            f"<tr><td>{_t(k)}</td><td>{_money(v)}</td></tr>" for k, v in breakdown.items()
        )
        parts.append(
            f'<div><h3>Monthly cost (estimate)</h3><table>{rows}<tr class="total"><td>total '
            f"(budget {_t(cost.get('expected'))})</td><td>{_money(cost.get('actual'))}"
            "</td></tr></table></div>"
        )
    path = _egress_path(judged)
    if path:
        parts.append(f'<div><h3>The Lambda\'s way out</h3><ul class="path">{path}</ul></div>')
    return f'<section id="glance">{"".join(parts)}</section>' if parts else ""


def _egress_path(judged: dict[str, dict[str, Any]]) -> str:
    """Each Lambda subnet → its ENI → the Elastic IP, or → the NAT its default route names."""
    arrow = ' <span class="arrow">→</span> '
    eips = _mapping(judged.get(EIP_CHECK)).get("actual")
    if isinstance(eips, dict) and eips:
        return "".join(
            f'<li><span class="node">{escape(str(row.get("subnet")))}</span>{arrow}'
            f'<span class="node">{escape(eni)}</span>{arrow}'
            f'<span class="node {"" if row.get("elastic_ip") else "missing"}">'
            f"{escape(str(row.get('elastic_ip') or 'no Elastic IP'))}</span></li>"
            for eni, row in eips.items()
            if isinstance(row, dict)
        )
    for check_id, key in NAT_CHECKS:
        routes = _mapping(_mapping(judged.get(check_id)).get("actual")).get(key)
        if isinstance(routes, dict) and routes:
            return "".join(
                f'<li><span class="node">{escape(subnet)}</span>{arrow}'
                f'<span class="node {"" if target else "missing"}">'
                f"{escape(str(target or 'no default route'))}</span>{arrow}internet</li>"
                for subnet, target in routes.items()
            )
    return ""


def _filters(report: dict[str, Any]) -> str:
    """Filters for the script (hidden without it: the page is whole without them)."""

    def select(name: str, options: list[tuple[str, str]]) -> str:
        opts = "".join(f'<option value="{escape(v)}">{escape(t)}</option>' for v, t in options)
        return (
            f'<label>{name} <select data-filter="{name}"><option value="">all</option>'
            f"{opts}</select></label>"
        )

    sections = [(s["id"], s["title"]) for s in report["sections"]]
    return (
        '<nav id="filters" hidden>'
        + select("status", list(STATUS_WORD.items()))
        + select("section", sections)
        + select("severity", [(s, s) for s in SEVERITIES])
        + "</nav>"
    )


def _failures(report: dict[str, Any]) -> str:
    bad = [
        (s, c) for s in report["sections"] for c in s["checks"] if c["status"] in ("fail", "error")
    ]
    order = {sev: n for n, sev in enumerate(SEVERITIES)}
    bad.sort(key=lambda sc: (sc[1]["status"] != "fail", order.get(sc[1]["severity"], 9)))
    if not bad:
        return '<section id="failures"><h2>Failures</h2><p class="none">none</p></section>'
    items = "".join(_failure(report, s, c) for s, c in bad)
    return f'<section id="failures"><h2>Failures first ({len(bad)})</h2>{items}</section>'


def _failure(report: dict[str, Any], section: dict[str, Any], check: dict[str, Any]) -> str:
    since = writers.failing_since(report, check)
    parts = [
        f'<article class="failure {_t(check.get("status"))}" {_data(section, check)}>'
        f'<h3><span class="badge {_t(check.get("status"))}">{_word(check.get("status"))}'
        f'</span> <span class="sev">{_t(check.get("severity"))}</span> '
        f"{escape(section['title'])}: <code>{_t(check.get('id'))}</code></h3>"
        f"<p>{_t(check.get('summary'))}</p>"
    ]
    if since:
        parts.append(f'<p class="since">failing since {escape(since)}</p>')
    if check.get("differs"):
        parts.append(f"<p>what differs: {_t(writers.differs_line(check['differs']))}</p>")
    steps = [st for st in check.get("steps") or [] if isinstance(st, dict)]
    if steps:
        parts.append('<ol class="fix">')
        for step in steps:
            calls = "".join(f"<code>{_t(c)}</code>" for c in step.get("calls") or [])
            parts.append(
                f'<li><span class="fix-says">{_t(step.get("says"))}</span> '
                f'<span class="state">[{_t(step.get("state"))}]</span>{calls}</li>'
            )
        parts.append("</ol>")
    if check.get("console"):
        parts.append(f'<p class="where">console: {_t(check["console"])}</p>')
    parts.append(_changed_by(check))
    parts.append("</article>")
    return "".join(parts)


def _changed_by(check: dict[str, Any]) -> str:
    """``--blame``: who last wrote to the failing resource, when, with which call."""
    changed = _mapping(check.get("changed_by"))
    if not changed:
        return ""
    rows = "".join(
        f"<tr><td>{_t(c.get('when'))}</td><td>{_t(c.get('who'))}</td>"
        f"<td><code>{_t(c.get('call'))}</code></td><td>{_t(c.get('resource'))}</td></tr>"
        for c in changed.get("changes") or []
        if isinstance(c, dict)
    )
    table = (
        '<table class="changed"><caption>last changed (CloudTrail)</caption>'
        f"<tr><th>when</th><th>who</th><th>call</th><th>resource</th></tr>{rows}</table>"
        if rows
        else ""
    )
    note = f'<p class="changed-note">{_t(changed["note"])}</p>' if changed.get("note") else ""
    return table + note


def _section(report: dict[str, Any], section: dict[str, Any], trend: list[dict[str, str]]) -> str:
    status = section["status"]
    idle = status in ("skip", "not_selected")
    counts = ", ".join(
        f"{n} {STATUS_WORD[s]}" for s, n in section["counts"].items() if n and s in STATUS_WORD
    )
    reason = ""
    if idle and section["checks"]:
        why = section["checks"][0].get("summary") if status == "skip" else "not in this run"
        reason = f" — {why}"
    head = (
        f'<summary><span class="badge {_t(status)}">{_word(status)}</span>'
        f' <strong>{escape(section["title"])}</strong> <span class="counts">{escape(counts)}'
        f"{_t(reason)}</span>{_strip(trend)}</summary>"
    )
    rows = "".join(_check(report, section, c) for c in section["checks"])
    if section["id"] == "operations" and status not in ("skip", "not_selected"):
        rows = _hours_strip(operation_hours(report)) + rows
    opened = " open" if status in ("fail", "error") else ""
    return (
        f'<details class="section {_t(status)}" id="section-{escape(section["id"])}" '
        f'data-section="{escape(section["id"])}"{opened}>{head}'
        f'<p class="guide">guide: {escape(section["guide"])}</p><ul class="checks">{rows}</ul>'
        "</details>"
    )


def _check(report: dict[str, Any], section: dict[str, Any], check: dict[str, Any]) -> str:
    evidence = {
        k: check.get(k)
        for k in ("resource", "expected", "actual", "differs", "evidence", "details", "steps")
        if check.get(k) not in (None, {}, [])
    }
    text = json.dumps(evidence, indent=2, default=str, ensure_ascii=False)
    if len(text) > EVIDENCE_LIMIT:
        text = text[:EVIDENCE_LIMIT] + "\n… (cut here: the whole of it is in summary.json)"
    advisories = "".join(f'<p class="advisory">{_t(a)}</p>' for a in check.get("advisories") or [])
    changes = (check.get("history") or {}).get("changes", 0)
    if (check.get("history") or {}).get("flapping"):
        advisories += f'<p class="flapping">flapping: {changes} changes in the last runs</p>'
    since = writers.failing_since(report, check)
    if since:
        advisories += f'<p class="since">failing since {escape(since)}</p>'
    return (
        f'<li class="check {_t(check.get("status"))}" {_data(section, check)}>'
        f'<span class="badge {_t(check.get("status"))}">{_word(check.get("status"))}</span> '
        f'<span class="sev">{_t(check.get("severity"))}</span> <code>{_t(check.get("id"))}</code>'
        f'<p class="says">{_t(check.get("says"))}</p>{_step(check)}'
        f"<p>{_t(check.get('summary'))}</p>"
        f"{advisories}<details><summary>evidence</summary><pre>{escape(text)}</pre></details></li>"
    )


def _step(check: dict[str, Any]) -> str:
    """The guide step the check is part of (the feature file's When line)."""
    step = _mapping(check.get("step"))
    return f'<p class="step">step: {_t(step["says"])}</p>' if step.get("says") else ""


def _t(value: Any) -> str:
    """Any value as escaped text (None as nothing): AWS's data may be of any shape."""
    return "" if value is None else escape(str(value))


def _word(status: Any) -> str:
    return _t(STATUS_WORD.get(str(status), status))


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _money(value: Any) -> str:
    return f"${value:,.2f}" if isinstance(value, int | float) else _t(value)


def _data(section: dict[str, Any], check: dict[str, Any]) -> str:
    return (
        f'data-section="{escape(section["id"])}" data-status="{_t(check.get("status"))}" '
        f'data-severity="{_t(check.get("severity"))}"'
    )


# --- Trends -------------------------------------------------------------------------------


def section_trends(
    report: dict[str, Any], records: list[dict[str, Any]]
) -> dict[str, list[dict[str, str]]]:
    """Per section, its state in each of the last runs (oldest first): fail, error, pass, or
    not run (none of its checks evaluated), with the run's start."""
    ids = [s["id"] for s in report["sections"]]
    out: dict[str, list[dict[str, str]]] = {i: [] for i in ids}
    for record in records[-TREND_RUNS:]:
        states: dict[str, set[str]] = {}
        for check in record.get("checks", {}).values():
            states.setdefault(check["section"], set()).add(check["status"])
        for i in ids:
            seen = states.get(i, set())
            state = next((s for s in ("fail", "error", "pass") if s in seen), "not_run")
            out[i].append({"started": record["started"], "state": state})
    return out


def _cells(kind: str, cells: list[tuple[str, str]], size: int, label: str) -> str:
    """One row of coloured cells, inline SVG (no image file); each (state, when) is a cell
    whose class is ``kind state`` and whose hover text says when and what."""
    gap = 2
    rects = "".join(
        f'<rect x="{n * (size + gap)}" y="0" width="{size}" height="{size}" '
        f'class="{kind} {state}"><title>{escape(when)}: {escape(state.replace("_", " "))}'
        "</title></rect>"
        for n, (state, when) in enumerate(cells)
    )
    return (
        f'<svg class="{kind}s" width="{len(cells) * (size + gap)}" height="{size}" role="img" '
        f'aria-label="{escape(label)}">{rects}</svg>'
    )


def _strip(trend: list[dict[str, str]]) -> str:
    """A section's last runs, oldest first."""
    if not trend:
        return ""
    runs = [(t["state"], t["started"]) for t in trend]
    return _cells("cell", runs, 10, f"last {len(trend)} runs")


def operation_hours(report: dict[str, Any]) -> list[dict[str, str]]:
    """The look-back window's last hours, each missed, failed, late, other (an incident of
    another kind) or ok, from the incidents the operations checks name."""
    window = report["run"].get("lookback") or {}
    if not (window.get("start") and window.get("end")):
        return []
    found: dict[str, set[str]] = {}
    ops = next((s for s in report["sections"] if s["id"] == "operations"), {"checks": []})
    for check in ops["checks"]:
        for incident in (check.get("details") or {}).get("incidents", []):
            hour = HOUR.search(incident)
            if hour:
                found.setdefault(hour.group(0), set()).add(incident[: hour.start()])
    start = datetime.fromisoformat(window["start"]).astimezone(UTC).replace(minute=0, second=0)
    end = datetime.fromisoformat(window["end"]).astimezone(UTC)
    hours = []
    at = start
    while at + timedelta(hours=1) <= end:
        hours.append(at.strftime("%Y-%m-%dT%H:00Z"))
        at += timedelta(hours=1)
    out = []
    for hour in hours[-HOURS_SHOWN:]:
        words = " ".join(found.get(hour, ()))
        state = next(
            (name for name, marks in HOUR_STATES if any(m in words for m in marks)),
            "other" if words else "ok",
        )
        out.append({"hour": hour, "state": state})
    return out


def _hours_strip(hours: list[dict[str, str]]) -> str:
    if not hours:
        return ""
    cells = _cells("hour", [(h["state"], h["hour"]) for h in hours], 14, "hours")
    return (
        f'<li class="hours"><span class="counts">the last {len(hours)} hours, oldest first '
        f"({escape(hours[0]['hour'])} to {escape(hours[-1]['hour'])})</span><br>{cells}</li>"
    )


STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:1rem;color:#1d1d1f}
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.15rem;margin:1.4rem 0 .5rem}
h3{font-size:1rem;margin:.2rem 0}code,pre{font:12px/1.4 ui-monospace,monospace}
pre{background:#f5f5f7;padding:.5rem;overflow:auto;max-height:24rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;margin:.5rem 0}
dt{color:#666}dd{margin:0}
.verdict{font-size:1.1rem;font-weight:600;padding:.4rem .6rem;border-radius:4px}
.verdict.healthy{background:#e3f5e1}.verdict.unhealthy{background:#fde2e1}
.verdict.could-not-check{background:#fff3cd}
.badge{display:inline-block;min-width:5.5rem;text-align:center;border-radius:3px;
padding:0 .3rem;font-size:12px;background:#eee}
.badge.pass{background:#cdeccd}.badge.fail{background:#f6b9b5}.badge.error{background:#ffe08a}
.badge.waived{background:#d7e3fc}.sev{color:#555;font-size:12px}
.failure{border-left:4px solid #d93025;padding:.3rem .8rem;margin:.6rem 0;background:#fff8f7}
.failure.error{border-color:#e0a800;background:#fffcf0}
.fix code{display:block;margin-left:1rem;color:#333}.since{color:#a50e0e}
.changed{border-collapse:collapse;margin:.3rem 0;font-size:12px}
.changed caption{text-align:left;color:#666}.changed td,.changed th{padding:0 .8rem 0 0;
text-align:left}.changed-note{color:#666;font-size:12px}
details.section{border-top:1px solid #ddd;padding:.3rem 0}
details.section>summary{cursor:pointer;padding:.2rem 0}
.checks{list-style:none;padding-left:1rem}.check{margin:.5rem 0}.says{color:#555;margin:0}
.check p{margin:.1rem 0}.guide,.where,.counts,.step{color:#666;font-size:12px}
.advisory{color:#7a5b00}.flapping{color:#8e24aa}.cells{margin-left:.6rem;vertical-align:middle}
.cell.pass{fill:#4caf50}.cell.fail{fill:#d93025}.cell.error{fill:#f0b400}
.cell.not_run{fill:#ccc}.hour.ok{fill:#4caf50}.hour.missed{fill:#d93025}
.hour.failed{fill:#a50e0e}.hour.late{fill:#f0b400}.hour.other{fill:#ff8a65}
nav{margin:.8rem 0}nav label{margin-right:1rem}
#glance{display:flex;flex-wrap:wrap;gap:2rem}#glance h3{margin:.6rem 0 .2rem}
#glance ul{margin:0;padding-left:1rem}#glance td{padding:0 .8rem 0 0}.total{font-weight:600}
.path{list-style:none;padding:0}.node{border:1px solid #999;border-radius:3px;padding:0 .3rem;
font:12px ui-monospace,monospace}.node.missing{border-color:#d93025;color:#d93025}
[data-hidden]{display:none}
"""

# Filtering only: state kept in the URL's query (?status=fail&section=vpc), so a filtered view
# can be linked and survives a reload.
SCRIPT = """
(function(){
  var nav=document.getElementById('filters');nav.hidden=false;
  var selects=nav.querySelectorAll('select');
  function apply(){
    var want={};selects.forEach(function(s){if(s.value)want[s.dataset.filter]=s.value;});
    document.querySelectorAll('[data-status]').forEach(function(el){
      var show=Object.keys(want).every(function(k){return el.dataset[k]===want[k];});
      if(show)el.removeAttribute('data-hidden');else el.setAttribute('data-hidden','');
    });
    document.querySelectorAll('details.section').forEach(function(d){
      var hide=want.section&&d.dataset.section!==want.section;
      if(hide)d.setAttribute('data-hidden','');else d.removeAttribute('data-hidden');
      if(Object.keys(want).length&&!hide)d.open=true;
    });
    var q=new URLSearchParams(want).toString();
    try{history.replaceState(null,'',q?'?'+q:location.pathname);}catch(e){}
  }
  var given=new URLSearchParams(location.search);
  selects.forEach(function(s){s.value=given.get(s.dataset.filter)||'';s.onchange=apply;});
  if(given.toString())apply();
})();
"""
