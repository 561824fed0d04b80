"""Which images an ECR lifecycle policy expires: ECR's own rules, applied to one image.

ECR evaluates rules by ascending ``rulePriority``; an image is expired by the first rule that
selects it and by no other, though lower rules still count it. A tagged selection needs every
listed prefix (or pattern) to match one of the image's tags. ``imageCountMoreThan`` keeps the
newest N images the rule selects; every other count (``sinceImagePushed``, ``sinceImagePulled``:
Lambda pulls only when deployed, ...) and a ``transition`` to archive end a selected image
however current.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

INDEX_MEDIA_TYPES = frozenset(
    {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)
LAMBDA_MEDIA_TYPES = frozenset(
    {
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    }
)


def selects(rule: dict[str, Any], tags: list[str]) -> bool:
    """Whether a rule's selection takes an image with these tags."""
    selection = rule.get("selection") or {}
    status = selection.get("tagStatus", "any")
    if status == "untagged":
        return not tags
    if status == "tagged":
        prefixes = selection.get("tagPrefixList") or []
        patterns = selection.get("tagPatternList") or []
        return (
            bool(tags and (prefixes or patterns))
            and all(any(t.startswith(x) for t in tags) for x in prefixes)
            and all(any(fnmatch.fnmatchcase(t, x) for t in tags) for x in patterns)
        )
    return True


def _pushed(image: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(image["imagePushedAt"]).replace(" ", "T"))


def expiry(
    policy: dict[str, Any] | None,
    image: dict[str, Any],
    images: Callable[[], list[dict[str, Any]]],
    now: datetime,
) -> str | None:
    """Why and when the policy expires ``image`` (one of ``images()``), None if it never does.

    Images are ``{"imageDigest", "imageTags", "imagePushedAt"}``; they are asked for only when
    a rule that keeps the newest N selects the image (the repository's listing is a read)."""
    rules = sorted((policy or {}).get("rules", []), key=lambda r: r.get("rulePriority", 0))
    rule = next((r for r in rules if selects(r, image.get("imageTags") or [])), None)
    if rule is None:
        return None
    selection = rule.get("selection") or {}
    count = int(selection.get("countNumber", 0))
    kind = selection.get("countType", "imageCountMoreThan")
    name = f"rule {rule.get('rulePriority')} ({rule.get('description') or 'no description'})"
    action = (rule.get("action") or {}).get("type", "expire")
    if action != "expire":
        return f"{name} selects it for {action!r} (an archived image cannot be pulled)"
    if kind == "sinceImagePushed":
        when = _pushed(image) + timedelta(days=count)
        tense = "expired it on" if when <= now else "expires it on"
        return f"{name} {tense} {when:%Y-%m-%d}, {count} day(s) after its push"
    if kind != "imageCountMoreThan":
        return f"{name} expires it {count} {selection.get('countUnit', 'day')}(s) by {kind}"
    # every image the rule selects counts, also those a higher rule expires
    newer = [
        i
        for i in images()
        if selects(rule, i.get("imageTags") or []) and _pushed(i) > _pushed(image)
    ]
    if len(newer) >= count:
        return f"{name} keeps the newest {count} image(s) it selects; {len(newer)} are newer"
    return None
