"""Waivers: a known deviation accepted, with who accepted it, why, and until when.

A waivers file (TOML, ``--waivers FILE`` or the profile's ``[waivers] file``) holds
``[[waiver]]`` tables, as InSpec's waivers do and with more:

    [[waiver]]
    check = "internet_sg_admits_only_http_https"   # the check id (notifier-runbook checks)
    resource = "sg-0123"        # optional: only the finding about this resource (run = true)
    justification = "the load balancer's health checks, ticket OPS-42"
    approved_by = "alice@example.com"
    expires = 2027-03-31        # a date: from that day on the waiver no longer applies
    run = true                  # true: checked and reported, but cannot fail the run;
                                # false: not checked at all

An expired waiver applies no more (it fails open) and is reported; one that names no known
check, or whose check did not fail, is reported as unused. A malformed file is refused in one
line, as a malformed profile is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from runbook.errors import UsageError
from runbook.tomlfile import read_toml


class Waiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    check: str = Field(pattern=r"^[a-z0-9_]+$")
    resource: str | None = None
    justification: str = Field(min_length=10)
    approved_by: str = Field(min_length=1)
    expires: date
    run: bool = True

    @model_validator(mode="after")
    def _resource_needs_a_run(self) -> Waiver:
        if self.resource is not None and not self.run:
            raise ValueError(
                "a waiver with run = false skips the check, so it cannot name a resource: "
                "set run = true or drop resource"
            )
        return self

    def expired(self, today: date) -> bool:
        return today >= self.expires

    def covers(self, resource: str | None) -> bool:
        return self.resource is None or self.resource == resource

    def to_dict(self) -> dict[str, Any]:
        return {**self.model_dump(), "expires": self.expires.isoformat()}

    def says(self) -> str:
        return (
            f"waived until {self.expires.isoformat()} by {self.approved_by}: {self.justification}"
        )


@dataclass(frozen=True)
class Waivers:
    """The waivers of a run: those in force today, and those past their date."""

    source: str | None
    active: tuple[Waiver, ...] = ()
    expired: tuple[Waiver, ...] = ()
    ignored: bool = False  # --ignore-waivers: read, but none applied

    def skipping(self, check_id: str) -> Waiver | None:
        """The waiver that says not to run the check (run = false), if any."""
        return next((w for w in self.active if w.check == check_id and not w.run), None)

    def accepting(self, check_id: str, resource: str | None) -> Waiver | None:
        """The waiver under which the check's fail does not fail the run, if any."""
        return next(
            (w for w in self.active if w.check == check_id and w.run and w.covers(resource)), None
        )


NONE = Waivers(source=None)


def load_waivers(path: str | Path, today: date, *, ignore: bool = False) -> Waivers:
    """Read and validate a waivers file; a problem is one UsageError line naming the file."""
    path = Path(path)
    data = read_toml(path, "waivers file", "--waivers")
    unknown = sorted(set(data) - {"waiver"})
    if unknown:
        raise UsageError(
            f"{path}: unknown key {unknown[0]!r}: a waivers file holds [[waiver]] tables"
        )
    entries = data.get("waiver", [])
    if not isinstance(entries, list):
        raise UsageError(f"{path}: 'waiver' must be [[waiver]] tables")
    waivers = []
    for n, entry in enumerate(entries, 1):
        try:
            waivers.append(Waiver.model_validate(entry))
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(x) for x in err["loc"]) or "waiver"
            message = err["msg"].removeprefix("Value error, ")
            raise UsageError(f"{path}: waiver {n}: {key}: {message}") from None
    if ignore:
        return Waivers(source=str(path), ignored=True)
    return Waivers(
        source=str(path),
        active=tuple(w for w in waivers if not w.expired(today)),
        expired=tuple(w for w in waivers if w.expired(today)),
    )
