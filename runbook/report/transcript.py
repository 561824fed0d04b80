"""A guided run's transcript (``guide.md``), rendered from its journal alone."""

from __future__ import annotations

from typing import Any

MARK = {
    "already-done": "✓ already done",
    "applied": "✓ applied",
    "attested": "✓ attested",
    "skipped": "– skipped",
    "failed": "✗ failed",
}


def markdown(events: list[dict[str, Any]]) -> str:
    out = ["# Guided run", ""]
    for e in events:
        kind, at = e.get("event"), e.get("at", "")
        if kind == "start":
            out += [
                f"Started {at} by {e.get('user')} as {e.get('identity') or 'unknown'}, profile "
                f"`{e.get('source')}` ({e.get('region')}), {e.get('answers')}.",
                "",
            ]
        elif kind == "shown":
            out.append(f"- {at} shown `{e.get('step')}` (by {e.get('by')}):")
            out += [
                f"  - {p.get('state')}: {p.get('says')}"
                + "".join(f" `{c}`" for c in p.get("calls") or [])
                for p in e.get("plan") or []
                if isinstance(p, dict)
            ]
        elif kind == "answer":
            out.append(f"- {at} answer: **{e.get('answer')}**")
        elif kind == "calls":
            calls = ", ".join(f"{k} × {v}" for k, v in (e.get("calls") or {}).items())
            out.append(f"- {at} AWS calls: {calls or 'none'}")
            out += [
                f"  - perform stopped at `{k}`: {v}" for k, v in (e.get("failed") or {}).items()
            ]
        elif kind == "attestation":
            out.append(
                f"- {at} attested by {e.get('user')} ({e.get('identity')}): "
                f"{', '.join(e.get('checks') or []) or 'the step'}"
            )
        elif kind == "step":
            by = f" by {e['by']}" if e.get("by") else ""
            out.append(
                f"- {at} **{MARK.get(e.get('status'), e.get('status'))}**{by}: "
                f"`{e.get('step')}` {e.get('says')}"
            )
        elif kind == "end":
            stopped = f" at `{e['stopped_at']}`" if e.get("stopped_at") else ""
            out += ["", f"Ended {at}: **{e.get('verdict')}**{stopped}."]
            out += [f"- still {v}: `{k}`" for k, v in (e.get("failing") or {}).items()]
            out += [f"- not made: `{k}` ({v})" for k, v in (e.get("unverified") or {}).items()]
    return "\n".join(out) + "\n"
