"""What the deployment is: every collection a check reads, made once per run.

Collections are lazy (only what the selected checks need is read), cached, and can be
written out as a snapshot (reports/inventory.json) or loaded from one, which is how unit
tests run checks on recorded inventories.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import threading
from datetime import date, datetime
from pathlib import Path
from typing import Any

from runbook.aws.collected import UNRECORDED, CollectionError, SharedReads, ahead, collected
from runbook.aws.ec2 import Ec2Collector
from runbook.aws.functions import FunctionsCollector
from runbook.aws.iam import IamCollector
from runbook.aws.operations import OperationsCollector
from runbook.aws.probe import ProbeCollector
from runbook.aws.rds import RdsCollector
from runbook.aws.schedule import ScheduleCollector
from runbook.aws.secrets import SecretsCollector
from runbook.aws.session import AwsSession
from runbook.aws.ssm import SessionManagerCollector
from runbook.hosts.access import HostAccess
from runbook.hosts.facts import HostsCollector
from runbook.stepfunctions.cache import cached


class Inventory(
    Ec2Collector,
    IamCollector,
    SecretsCollector,
    FunctionsCollector,
    ScheduleCollector,
    RdsCollector,
    HostsCollector,
    OperationsCollector,
    ProbeCollector,
    SessionManagerCollector,
):
    """Read-only view of one account and region, shared by all checks of a run."""

    def __init__(
        self,
        session: AwsSession | None,
        snapshot: dict[str, Any] | None = None,
        hosts: HostAccess | None = None,
        simulation_cache: Path | None = None,
        shared: SharedReads | None = None,
    ):
        self.session = session
        self.hosts = hosts
        self.shared = shared  # a fleet's deployments of one account: their reads made once
        self.account: str | None = None  # once the preflight knows it (Run.identify)
        self.simulation_cache = simulation_cache  # None: simulate afresh, keep nothing
        self._cache: dict[str, Any] = dict(snapshot or {})

    @classmethod
    def from_snapshot(cls, snapshot: dict[str, Any]) -> Inventory:
        """An inventory that answers from a recording; what failed then fails again."""
        restored = {
            key: CollectionError(value["collection_error"], value["message"])
            if isinstance(value, dict) and set(value) == {"collection_error", "message"}
            else value
            for key, value in snapshot.items()
        }
        return cls(None, restored)

    # Reads begun ahead of the check's own order when prefetched (collected.py).
    ahead = staticmethod(ahead)

    def invalidate(self) -> None:
        """Forget everything read so far (after perform changed the deployment)."""
        self._cache.clear()

    def snapshot(self) -> dict[str, Any]:
        """Everything collected (but what is not ``recorded``), JSON-ready; failed
        collections appear as their error."""
        out: dict[str, Any] = {}
        for key, value in sorted(self._cache.items()):
            if key.partition("(")[0] in UNRECORDED:
                continue
            if isinstance(value, CollectionError):
                out[key] = {"collection_error": value.kind, "message": str(value)}
            else:
                out[key] = json.loads(json.dumps(value, default=_jsonable))
        return out

    @collected("sts")
    def caller_identity(self) -> dict[str, str]:
        got = self.session.client("sts").get_caller_identity()
        return {k: got[k] for k in ("Account", "Arn")}

    @collected("local")
    def local_zip_sha256(self, path: str) -> str:
        """Lambda's CodeSha256 form (base64 of the SHA-256) of a local package."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise CollectionError("missing", f"cannot read {path}: {exc.strerror}") from None
        return base64.b64encode(hashlib.sha256(data).digest()).decode()

    @collected("stepfunctions")
    def state_machine_simulation(self, name: str, function_name: str) -> list[dict[str, Any]]:
        """The deployed definition run locally in four scenarios (nothing runs in AWS)."""
        machine = self.state_machine(name)
        if machine is None:
            raise CollectionError("missing", f"state machine {name!r} does not exist")
        definition = machine["definition"]
        return cached(
            self.simulation_cache,
            definition,
            function_name,
            lambda: [dict(r) for r in _simulated(definition, function_name)],
        )


SIMULATION_BOUND_S = 240.0  # four scenarios of at most 30 s each, and moto's import, at ease
_SIMULATED: dict[tuple[str, str], tuple[dict[str, Any], ...]] = {}
_SIMULATING = threading.Lock()
_SIMULATION_LOCKS: dict[tuple[str, str], threading.Lock] = {}
# A failed simulation is what the runs that waited for it read too (a hang costs its bound
# once, not once per deployment of a fleet); a run after it tries again.
_SIMULATION_TRIES: dict[tuple[str, str], int] = {}
_SIMULATION_FAILED: dict[tuple[str, str], tuple[dict[str, Any], ...]] = {}


def _simulated(definition: str, function_name: str) -> tuple[dict[str, Any], ...]:
    """The simulation, in a process of its own (``runbook.stepfunctions.simulate``'s main):
    it runs beside the other reads, and this process never imports moto. Run once per
    process and definition (a fleet's deployments of one definition wait for one); one that
    could not run is tried again next time."""
    key = (definition, function_name)
    with _SIMULATING:
        lock = _SIMULATION_LOCKS.setdefault(key, threading.Lock())
        tried = _SIMULATION_TRIES.get(key, 0)
    with lock:
        done = _SIMULATED.get(key)
        if done is not None:
            return done
        if _SIMULATION_TRIES.get(key, 0) != tried:  # one failed while this one waited for it
            return _SIMULATION_FAILED[key]
        result = _simulate(definition, function_name)
        if _SIMULATED.get(key) is None:
            _SIMULATION_FAILED[key] = result
            _SIMULATION_TRIES[key] = tried + 1
        return result


def _simulate(definition: str, function_name: str) -> tuple[dict[str, Any], ...]:
    asked = json.dumps({"definition": definition, "function_name": function_name})
    try:
        child = subprocess.run(
            [sys.executable, "-m", "runbook.stepfunctions.simulate"],
            input=asked,
            capture_output=True,
            text=True,
            timeout=SIMULATION_BOUND_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return (_not_simulated(f"it took over {SIMULATION_BOUND_S:g} s"),)
    except OSError as exc:
        return (_not_simulated(f"it could not start ({exc.strerror or exc})"),)
    lines = child.stdout.strip().splitlines()
    try:
        results = tuple(json.loads(lines[-1])) if child.returncode == 0 and lines else None
    except ValueError:
        results = None
    if results is None:
        said = child.stderr.strip().splitlines()
        return (_not_simulated(said[-1] if said else f"exit status {child.returncode}"),)
    _SIMULATED[(definition, function_name)] = results
    return results


def _not_simulated(why: str) -> dict[str, Any]:
    """What the check reads when the simulator itself failed: an error, never a verdict."""
    return {
        "scenario": "all",
        "execution_status": "NOT_RUN",
        "final_instance_state": None,
        "lambda_payloads": [],
        "states_visited": [],
        "error": f"the simulation did not finish: {why}"[:300],
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)
