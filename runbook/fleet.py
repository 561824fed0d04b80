"""A fleet file: the deployments one run verifies, each a profile (with overrides), the AWS
identity to check it as, and tags; and the choice of some of them (``--deployment``, ``--tag``,
``--shard``), as c7n-org chooses accounts.

    [defaults]                       # optional: what every deployment has unless it says
    profile = "profiles/notifier.toml"

    [[deployment]]
    name = "eu-prod"                 # its reports go to <reports>/eu-prod/
    aws_profile = "notifier-prod"    # a profile of ~/.aws/config (default: the standard chain)
    role_arn = "arn:aws:iam::111122223333:role/NotifierChecker"   # assumed from that identity
    tags = ["prod", "eu"]
    [deployment.overrides]           # laid over the profile's tables
    deployment = { region = "eu-west-1" }

Paths are relative to the fleet file; paths inside a profile, to the profile.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runbook.errors import UsageError
from runbook.profile import Profile, load_profile
from runbook.tomlfile import read_toml

# A deployment's name is a folder of the reports: letters, digits and ._- only, not dots alone.
NAME = r"(?!\.+\Z)[A-Za-z0-9._-]{1,64}"
Name = Annotated[str, Field(pattern=f"^{NAME}\\Z")]
# Names a deployment's folder cannot take: the fleet's own files beside the folders.
RESERVED = frozenset({"fleet.json", "fleet.html"})
ROLE_ARN = r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9_+=,.@/-]{1,512}\Z"
RoleArn = Annotated[str, Field(pattern=ROLE_ARN)]
EndpointUrl = Annotated[str, Field(pattern=r"^https?://[^\s/]+(/\S*)?\Z")]
SHARD = re.compile(r"([0-9]{1,4})/([0-9]{1,4})")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, regex_engine="python-re")


class _Identity(_Strict):
    profile: str | None = None
    aws_profile: str | None = Field(default=None, min_length=1)
    role_arn: RoleArn | None = None
    endpoint_url: EndpointUrl | None = None
    tags: tuple[Name, ...] = ()


class _Entry(_Identity):
    name: Name
    overrides: dict[str, Any] = {}


class _FleetFile(_Strict):
    defaults: _Identity = _Identity()
    deployment: list[_Entry] = Field(min_length=1)


@dataclass(frozen=True)
class Deployment:
    """One deployment of the fleet, its profile loaded (overrides laid over it)."""

    name: str
    profile: Profile
    tags: tuple[str, ...]
    aws_profile: str | None
    role_arn: str | None
    endpoint_url: str | None

    @property
    def account_key(self) -> tuple[str | None, ...]:
        """Deployments with the same key read the same account and region as the same
        identity: their AWS reads are made once (runbook/aws/collected.py's SharedReads)."""
        return (self.endpoint_url, self.aws_profile, self.role_arn, self.profile.region)


def load_fleet(path: str | Path) -> list[Deployment]:
    """Every deployment of the fleet file, in its order, each profile loaded and validated:
    any problem is a one-line UsageError naming the file and the deployment."""
    path = Path(path)
    data = read_toml(path, "fleet file", "--fleet")
    try:
        fleet = _FleetFile.model_validate(data)
    except ValidationError as exc:
        raise UsageError(f"{path}: {_first_error(exc, data)}") from None
    # Two names one folder on a file system that ignores case are one name.
    names = [entry.name.casefold() for entry in fleet.deployment]
    twice = next((e.name for i, e in enumerate(fleet.deployment) if names[i] in names[:i]), None)
    if twice is not None:  # their reports would share a folder
        raise UsageError(f"{path}: deployment {twice!r} is named twice")
    taken = next((e.name for e in fleet.deployment if e.name.casefold() in RESERVED), None)
    if taken is not None:
        raise UsageError(f"{path}: deployment {taken!r}: the name of the fleet's own summary")
    return [_deployment(path, fleet.defaults, entry) for entry in fleet.deployment]


def _deployment(path: Path, defaults: _Identity, entry: _Entry) -> Deployment:
    def given(key: str) -> Any:
        return getattr(entry, key) if key in entry.model_fields_set else getattr(defaults, key)

    said = f"{path}: deployment {entry.name!r}"
    profile_path = given("profile")
    if profile_path is None:
        raise UsageError(f'{said}: no profile (give profile = "..." to it or to [defaults])')
    try:
        profile = load_profile(
            path.parent / Path(profile_path).expanduser(), entry.overrides, said=said
        )
    except UsageError as exc:
        message = str(exc)
        raise UsageError(message if message.startswith(said) else f"{said}: {message}") from None
    return Deployment(
        name=entry.name,
        profile=profile,
        tags=tuple(dict.fromkeys([*defaults.tags, *entry.tags])),
        aws_profile=given("aws_profile"),
        role_arn=given("role_arn"),
        endpoint_url=given("endpoint_url"),
    )


def _first_error(exc: ValidationError, data: dict[str, Any]) -> str:
    err = exc.errors()[0]
    loc = list(err["loc"])
    if len(loc) >= 2 and loc[0] == "deployment" and isinstance(loc[1], int):
        entries = data.get("deployment")
        entry = entries[loc[1]] if isinstance(entries, list) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        where = f"deployment {name!r}" if isinstance(name, str) else f"deployment #{loc[1] + 1}"
        loc = loc[2:]
    else:
        where = ""
    key = ".".join(str(p) for p in loc)
    if err["type"] == "extra_forbidden":
        message = "unknown key (expected name, profile, overrides, aws_profile, role_arn, "
        message += "endpoint_url, tags)"
    elif err["type"] == "string_pattern_mismatch":
        message = f"{err['input']!r} is not {_PATTERN_WORDS.get(key.split('.')[0], 'valid')}"
    elif err["type"] in ("too_short", "missing") and key == "deployment":
        message = "no [[deployment]] in the file"
    else:
        message = err["msg"]
    return ", ".join(p for p in (where, f"key '{key}'" if key else "") if p) + f": {message}"


_PATTERN_WORDS = {
    "name": "a deployment name (letters, digits and ._- only, at most 64)",
    "tags": "a tag (letters, digits and ._- only, at most 64)",
    "role_arn": "an IAM role's ARN (arn:aws:iam::<account>:role/<name>)",
    "endpoint_url": "an endpoint URL (http://host:port or https://host)",
}


def select(
    deployments: list[Deployment], names: list[str] | None, tags: list[str] | None
) -> list[Deployment]:
    """Those named (any of ``names``) and carrying every one of ``tags``, as c7n-org's
    ``-a``/``-t``; a name the fleet does not have is a mistake, not an empty choice."""
    known = {d.name for d in deployments}
    for name in names or ():
        if name not in known:
            raise UsageError(
                f"--deployment {name!r}: no such deployment in the fleet (it has: "
                f"{', '.join(sorted(known))})"
            )
    chosen = [
        d
        for d in deployments
        if (not names or d.name in names) and set(tags or ()).issubset(d.tags)
    ]
    if not chosen:
        raise UsageError(f"--tag {' '.join(tags or ())}: no deployment of the fleet has them all")
    return chosen


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N``: the K-th of N shards, 1 <= K <= N."""
    match = SHARD.fullmatch(text.strip())
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise UsageError(f"--shard {text!r}: expected K/N with 1 <= K <= N, e.g. 2/4")
    return int(match[1]), int(match[2])


def shard_of(name: str, count: int) -> int:
    """The shard (1..count) a deployment falls in, by its name alone: a deployment stays in
    its shard when others are added or removed (its history, kept by that shard, follows)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % count + 1


def shard(deployments: list[Deployment], which: tuple[int, int]) -> list[Deployment]:
    k, n = which
    return [d for d in deployments if shard_of(d.name, n) == k]
