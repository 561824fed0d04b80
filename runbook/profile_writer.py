"""A discovered profile as TOML a person reads: each name with where it was found, the names
the runbook follows by itself as comments, and what could not be inferred."""

from __future__ import annotations

import json
from typing import Any

from runbook.discover import Discovery
from runbook.profile import Profile


def profile_text(base: Profile, found: Discovery, header: list[str]) -> str:
    data = base.model_dump(by_alias=True, exclude_unset=True, exclude={"source"})
    for key in found.followed:
        section, _, name = key.partition(".")
        data.get(section, {}).pop(name, None)
    for key, (value, _) in found.values.items():
        section, _, name = key.partition(".")
        data.setdefault(section, {})[name] = value
    notes = {k: f"found: {where}" for k, (_, where) in found.values.items()}
    out = [f"# {line}" if line else "#" for line in header]
    if found.unknown:
        out += ["#", "# Could not infer (set these by hand if the checks need them):"]
        out += [f"# - {line}" for line in found.unknown]
    out.append("")
    for key, value in data.items():
        if not isinstance(value, dict):
            out.append(f"{key} = {_value(value)}")
    sections = [k for k, v in data.items() if isinstance(v, dict)]
    sections += sorted({k.partition(".")[0] for k in found.followed} - set(sections))
    order = [f.alias or n for n, f in Profile.model_fields.items()]
    for section in sorted(sections, key=order.index):
        out += ["", f"[{section}]"]
        for name, value in data.get(section, {}).items():
            note = notes.get(f"{section}.{name}", f"from {base.source}")
            out.append(f"{name} = {_value(value)}  # {note}")
        for key, (value, where) in found.followed.items():
            if key.startswith(section + "."):
                out.append(
                    f"# {key.partition('.')[2]} = {_value(value)}  # found: {where} (followed at "
                    "every run: set it only to assert the name)"
                )
    return "\n".join(out) + "\n"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        if value and isinstance(value[0], dict):
            return "[\n" + "".join(f"  {_value(v)},\n" for v in value) + "]"
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} in a profile")
