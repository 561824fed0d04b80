"""Which images an ECR lifecycle policy expires: ECR's own rules, applied to one image.

ECR evaluates rules by ascending ``rulePriority``; an image is handled by the first rule that
selects it and no other. ``imageCountMoreThan`` keeps the newest N images the rule selects;
``sinceImagePushed`` expires every selected image N days after its push, however current.
"""

from __future__ import annotations

import fnmatch
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
        return any(t.startswith(x) for t in tags for x in prefixes) or any(
            fnmatch.fnmatchcase(t, x) for t in tags for x in patterns
        )
    return True


def _pushed(image: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(image["imagePushedAt"]).replace(" ", "T"))


def expiry(
    policy: dict[str, Any] | None,
    image: dict[str, Any],
    images: list[dict[str, Any]],
    now: datetime,
) -> str | None:
    """Why and when the policy expires ``image`` (one of ``images``), None if it never does.

    Images are ``{"imageDigest", "imageTags", "imagePushedAt"}``."""
    rules = sorted((policy or {}).get("rules", []), key=lambda r: r.get("rulePriority", 0))
    for rule in rules:
        if not selects(rule, image.get("imageTags") or []):
            continue
        if (rule.get("action") or {}).get("type", "expire") != "expire":
            return None
        selection = rule.get("selection") or {}
        count = int(selection.get("countNumber", 0))
        name = f"rule {rule.get('rulePriority')} ({rule.get('description') or 'no description'})"
        if selection.get("countType") == "sinceImagePushed":
            when = _pushed(image) + timedelta(days=count)
            tense = "expired it on" if when <= now else "expires it on"
            return f"{name} {tense} {when:%Y-%m-%d}, {count} day(s) after its push"
        handled = [
            i
            for i in images
            if selects(rule, i.get("imageTags") or [])
            and _first_rule(rules, i.get("imageTags") or []) is rule
        ]
        newer = [i for i in handled if _pushed(i) > _pushed(image)]
        if len(newer) >= count:
            return f"{name} keeps the newest {count} image(s) it selects; {len(newer)} are newer"
        return None
    return None


def _first_rule(rules: list[dict[str, Any]], tags: list[str]) -> dict[str, Any] | None:
    return next((r for r in rules if selects(r, tags)), None)
