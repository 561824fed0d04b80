"""The simulation's results kept on disk, so a repeat run costs a file read, not seconds of moto.

A simulation is a pure function of the definition, the notifier's name and the simulator itself
(moto's version and the code of ``simulate.py``, its scenarios among it): the key is a digest of
all of them,
so a changed definition or an upgraded moto is simulated afresh. Only conclusive results are
kept: a run that timed out, could not start, or left interpreter threads behind may owe its
result to a busy machine and is simulated again next time. The cache is a hint: an unreadable,
corrupt or unwritable entry is simulated again, never an error of the run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import platformdirs

Results = list[dict[str, Any]]

KEEP = 200  # entries kept (a few kB each); the least recently used go first
_SIMULATOR_SOURCES = ("simulate.py", "graph.py")


def default_dir() -> Path:
    """Where the user's cache lives ($XDG_CACHE_HOME on Linux)."""
    return Path(platformdirs.user_cache_dir("notifier-runbook")) / "simulation"


def key(definition: str, function_name: str) -> str:
    here = Path(__file__).parent
    simulator = hashlib.sha256()
    for name in _SIMULATOR_SOURCES:
        simulator.update((here / name).read_bytes())
    material = {
        "definition": definition,
        "function": function_name,
        "moto": metadata.version("moto"),
        "simulator": simulator.hexdigest(),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def conclusive(results: Results) -> bool:
    return all(
        r["execution_status"] not in ("TIMED_OUT", "NOT_RUN")
        and "interpreter thread" not in (r.get("error") or "")
        for r in results
    )


def cached(
    directory: Path | None,
    definition: str,
    function_name: str,
    simulate: Callable[[], Results],
) -> Results:
    """The results for these inputs: from ``directory`` if kept there, else from ``simulate``
    (kept for next time when conclusive). ``directory`` None: always simulate, keep nothing."""
    if directory is None:
        return _plain(simulate())
    path = directory / f"{key(definition, function_name)}.json"
    kept = _read(path)
    if kept is not None:
        return kept
    results = _plain(simulate())
    if conclusive(results):
        _write(path, results)
    return results


def _plain(results: Results) -> Results:
    """As JSON gives them back (lists, not tuples): a hit and a miss answer alike."""
    return json.loads(json.dumps(results))


def _read(path: Path) -> Results | None:
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: pruned last
    return results


def _write(path: Path, results: Results) -> None:
    """Atomically (a concurrent run reads a whole entry or none), then prune the oldest."""
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=path.parent, prefix=".", suffix=".tmp", delete=False
        ) as out:
            tmp = Path(out.name)
            json.dump(results, out)
        os.replace(tmp, path)
        tmp = None
        entries = sorted(path.parent.glob("*.json"), key=_mtime, reverse=True)
        for old in entries[KEEP:]:
            old.unlink(missing_ok=True)
    except OSError:
        return
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
