"""The options of a runbook run, declared once: pytest's plugin and the command line both take
them from here, so ``notifier-runbook verify --help`` lists every option the run accepts."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PROFILE = "profiles/notifier.toml"


@dataclass(frozen=True)
class RunOption:
    flag: str
    help: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    perform_only: bool = False

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    def as_pytest_args(self, value: Any) -> list[str]:
        """The option as pytest takes it, or nothing when it is not given."""
        if value in (None, False, self.kwargs.get("default")):
            return []
        return [self.flag] if value is True else [f"{self.flag}={value}"]


RUN_OPTIONS = (
    RunOption(
        "--profile",
        f"deployment profile (TOML); default $RUNBOOK_PROFILE, then {DEFAULT_PROFILE}",
    ),
    RunOption(
        "--reports-dir", "where the report files go (default: reports)", {"default": "reports"}
    ),
    RunOption(
        "--start-database",
        "start a stopped database instance for the host checks, and stop it again after",
        {"action": "store_true"},
    ),
    RunOption(
        "--lookback-hours", "operations: how many past hours to read (default: the profile's, 24)"
    ),
    RunOption(
        "--probe-egress",
        "egress: create, invoke and delete a probe function that reports its public IP",
        {"action": "store_true"},
    ),
    RunOption(
        "--fail-on",
        "the lowest severity whose fails fail the run: critical, high, medium or low "
        "(default: low, every fail; lower fails are still reported)",
        {"default": "low"},
    ),
    RunOption(
        "--waivers",
        "a waivers file (TOML: [[waiver]] check, justification, approved_by, expires, run); "
        "default: the profile's [waivers] file",
    ),
    RunOption(
        "--ignore-waivers",
        "show the run as it is without any waiver (they are still read and checked)",
        {"action": "store_true"},
    ),
    RunOption(
        "--blame",
        "for each failing check, the last CloudTrail events that wrote to its resource: who, "
        "when, which call (cloudtrail:LookupEvents, 2 a second, at most 10 look-ups; "
        "`notifier-runbook policy --blame` adds the permission)",
        {"action": "store_true"},
    ),
    RunOption(
        "--no-cache",
        "simulate the state machine afresh: neither read nor keep the simulation's result in "
        "the user's cache (kept there by a digest of the definition and the simulator)",
        {"action": "store_true"},
    ),
    RunOption(
        "--break-lease",
        "with --mode perform: take over the perform lease another perform holds (it is gone)",
        {"action": "store_true"},
        perform_only=True,
    ),
    RunOption(
        "--dry-run",
        "with --mode perform: show the plan, change nothing",
        {"action": "store_true"},
        perform_only=True,
    ),
)


def default_profile() -> str:
    return os.environ.get("RUNBOOK_PROFILE", DEFAULT_PROFILE)
