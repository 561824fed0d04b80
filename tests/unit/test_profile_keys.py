"""Every profile key is documented (docs/profile.md), and "read by perform" is true: no verify
code reads such a key, and a verify says once that it did not judge one the profile sets."""

from __future__ import annotations

import re
from pathlib import Path

from runbook.profile import Profile
from runbook.profile_keys import KEYS, markdown, model_keys, perform_only_set
from runbook.report.writers import not_judged_line

ROOT = Path(__file__).resolve().parents[2]
# Where verify reads the profile: collections, checks, hosts, the run and its reports.
VERIFY_CODE = ("checks", "runbook/aws", "runbook/hosts", "runbook/report", "runbook/probe")


def test_every_key_of_the_profile_is_documented_and_no_other() -> None:
    assert set(KEYS) == set(model_keys())


def test_docs_profile_md_is_the_generated_table() -> None:
    assert (ROOT / "docs" / "profile.md").read_text() == markdown(), (
        "docs/profile.md is stale: notifier-runbook keys --markdown > docs/profile.md"
    )


def _attribute(key: str) -> str:
    section, _, name = key.partition(".")
    return f"{'function' if section == 'lambda' else section}.{name}"


def test_no_verify_code_reads_a_key_marked_perform() -> None:
    sources = [
        (path, path.read_text())
        for folder in VERIFY_CODE
        for path in sorted((ROOT / folder).rglob("*.py"))
    ]
    perform_only = [k for k, (_, by, _) in KEYS.items() if by == "perform"]
    assert "trigger.role" in perform_only and "step_functions.role" in perform_only
    for key in perform_only:
        pattern = re.compile(rf"\.{re.escape(_attribute(key))}\b")
        readers = [str(p.relative_to(ROOT)) for p, text in sources if pattern.search(text)]
        assert readers == [], (key, readers)


def test_a_verify_says_which_keys_it_did_not_judge() -> None:
    profile = Profile.model_validate(
        {"trigger": {"role": "MyRole"}, "lambda": {"role": "x", "memory_mb": 256}}
    )
    assert perform_only_set(profile) == ["trigger.role"]
    assert perform_only_set(Profile()) == []
    report = {"profile": {"not_judged": perform_only_set(profile)}}
    (line,) = not_judged_line(report)
    assert line.startswith(
        "profile keys only perform reads, not judged by this verify: trigger.role ("
    )
