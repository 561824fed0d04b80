"""What today's notifier's redeployment relies on (upstream's build_deploy_lambda.sh): one
manifest behind the tag (--provenance false), a lifecycle policy that never expires the running
image, and a .zip runtime AWS still supports. Each fault fails exactly its check."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from checks.functions import (
    deprecation,
    image_current,
    image_manifest,
    lifecycle_keeps_running_image,
)
from checks.lifecycle import expiry
from runbook.aws.collected import cache_key
from runbook.aws.inventory import Inventory
from runbook.findings import Status

from .test_checks_recorded import PROFILE, changed_by, recorded

INDEX = "application/vnd.oci.image.index.v1+json"
NEWER = "sha256:" + "e" * 64


def _latest(snap: dict[str, Any]) -> dict[str, Any]:
    return snap[cache_key("image_detail", "notifier", "latest")]


def test_an_image_index_behind_the_tag_fails_with_the_provenance_fix() -> None:
    def index_pushed(snap: dict[str, Any]) -> None:
        pushed = {**_latest(snap), "imageDigest": NEWER, "imageManifestMediaType": INDEX}
        snap[cache_key("image_detail", "notifier", "latest")] = pushed
        snap[cache_key("image_digest", "notifier", "latest")] = NEWER

    assert changed_by(index_pushed) == {
        "image_behind_tag_is_one_manifest_lambda_runs": Status.FAIL,
        "function_runs_image_behind_tag": Status.FAIL,
    }
    snap = recorded()
    index_pushed(snap)
    inv = Inventory.from_snapshot(snap)
    for judge in (image_manifest, image_current):  # the fix is a rebuild, not a redeploy
        summary = judge(inv, PROFILE).summary
        assert "is an image index" in summary and "docker build --provenance false" in summary


def _policy(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"rules": [{"rulePriority": i + 1, **r} for i, r in enumerate(rules)]}


EXPIRE_ALL_AFTER_30_DAYS = {
    "description": "expire everything after 30 days",
    "selection": {
        "tagStatus": "any",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 30,
    },
    "action": {"type": "expire"},
}
UNTAGGED_ONLY = {
    "selection": {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 1,
    },
    "action": {"type": "expire"},
}


@pytest.mark.parametrize(
    ("policy", "changed"),
    [
        (
            _policy(EXPIRE_ALL_AFTER_30_DAYS),
            {"lifecycle_policy_keeps_the_running_image": Status.FAIL},
        ),
        (_policy(UNTAGGED_ONLY), {}),
        (None, {}),
    ],
    ids=["expires-everything", "untagged-only", "no-policy"],
)
def test_a_lifecycle_rule_that_would_expire_the_running_image_fails(
    policy: dict[str, Any] | None, changed: dict[str, Status]
) -> None:
    def put(snap: dict[str, Any]) -> None:
        snap[cache_key("lifecycle_policy", "notifier")] = policy

    assert changed_by(put) == changed
    snap = recorded()
    put(snap)
    summary = lifecycle_keeps_running_image(Inventory.from_snapshot(snap), PROFILE).summary
    if changed:
        assert summary.startswith("rule 1 (expire everything after 30 days) expires it on ")
    else:
        assert summary.startswith("kept by the lifecycle policy")


def _image(digest: str, tags: list[str], pushed: str) -> dict[str, Any]:
    return {"imageDigest": digest, "imageTags": tags, "imagePushedAt": pushed}


def test_lifecycle_rules_as_ecr_applies_them() -> None:
    now = datetime(2026, 12, 2, tzinfo=UTC)
    running = _image("sha256:a", ["v1"], "2026-11-01T00:00:00+00:00")
    newer = [
        _image(f"sha256:n{i}", [f"v{i + 2}"], f"2026-11-2{i}T00:00:00+00:00") for i in range(3)
    ]
    keep_two = {
        "selection": {
            "tagStatus": "tagged",
            "tagPrefixList": ["v"],
            "countType": "imageCountMoreThan",
            "countNumber": 2,
        }
    }
    images = [running, *newer]
    assert "keeps the newest 2" in expiry(_policy(keep_two), running, lambda: images, now)
    assert expiry(_policy(keep_two), newer[-1], lambda: images, now) is None
    # the first rule that selects an image is the only one applied to it
    assert expiry(_policy(UNTAGGED_ONLY, keep_two), running, lambda: [running], now) is None
    since = expiry(_policy(EXPIRE_ALL_AFTER_30_DAYS), running, lambda: images, now)
    assert since == (
        "rule 1 (expire everything after 30 days) expired it on 2026-12-01, 30 day(s) after its "
        "push"
    )
    other_tags = {
        "selection": {
            "tagStatus": "tagged",
            "tagPatternList": ["dev-*"],
            "countType": "sinceImagePushed",
            "countNumber": 1,
        }
    }
    assert expiry(_policy(other_tags), running, lambda: images, now) is None


def test_a_runtime_past_its_deprecation_is_an_advisory_with_the_date() -> None:
    (advice,) = deprecation("python3.9", date(2026, 12, 2))
    assert advice.startswith("runtime python3.9 deprecated by AWS on 2025-12-15: move to python3.")
    assert deprecation("python3.13", date(2026, 12, 2)) == ()
    assert deprecation("python3.11", date(2026, 6, 29)) == ()


def test_a_zip_function_left_on_an_old_runtime_fails_with_the_date() -> None:
    from checks.functions import function_package
    from runbook.profile import load_profile

    from .test_checks_recorded import ROOT

    current = load_profile(ROOT / "profiles" / "notifier-current.toml")
    zipped = current.model_copy(
        update={"variants": current.variants.model_copy(update={"packaging": "zip"})}
    )
    config = {"PackageType": "Zip", "Runtime": "python3.8", "Handler": zipped.function.handler}
    inv = Inventory.from_snapshot(
        {cache_key("function", "WikidotNotifier"): {"Configuration": config}}
    )
    outcome = function_package(inv, zipped)
    assert outcome.status == Status.FAIL
    assert outcome.expected["runtime"] == "python3.13"
    assert outcome.advisories[0].startswith("runtime python3.8 deprecated by AWS on 2024-10-14")


def test_lifecycle_selection_needs_every_listed_tag_and_counts_what_higher_rules_take() -> None:
    now = datetime(2026, 12, 2, tzinfo=UTC)
    old = _image("sha256:o", ["release-7"], "2026-09-01T00:00:00+00:00")
    # tagged ["release", "keep"] selects only an image with both: this one falls to rule 2
    both = {
        "selection": {
            "tagStatus": "tagged",
            "tagPrefixList": ["release", "keep"],
            "countType": "imageCountMoreThan",
            "countNumber": 100,
        }
    }
    assert expiry(_policy(both, EXPIRE_ALL_AFTER_30_DAYS), old, lambda: [old], now) is not None
    # rule 2 counts the prod images rule 1 owns: the older v1 is not among the newest 2
    running = _image("sha256:v1", ["v1"], "2026-11-01T00:00:00+00:00")
    prods = [_image(f"sha256:p{i}", [f"prod-{i}"], f"2026-11-1{i}T00:00:00+00:00") for i in (1, 2)]
    prod = {
        "selection": {
            "tagStatus": "tagged",
            "tagPrefixList": ["prod"],
            "countType": "imageCountMoreThan",
            "countNumber": 10,
        }
    }
    anything = {
        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 2}
    }
    assert "keeps the newest 2" in expiry(
        _policy(prod, anything), running, lambda: [running, *prods], now
    )
    # Lambda pulls only when deployed: a since-pulled rule ends the running image too
    pulled = {"selection": {"tagStatus": "any", "countType": "sinceImagePulled", "countNumber": 30}}
    assert "sinceImagePulled" in expiry(_policy(pulled), running, lambda: [running], now)
