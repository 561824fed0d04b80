"""The profile: every shipped profile loads; malformed ones give one line naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbook.errors import UsageError
from runbook.profile import GUIDE_GROUP_POLICIES, Profile, load_profile

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", sorted((ROOT / "profiles").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_profiles_load(path: Path) -> None:
    profile = load_profile(path)
    assert profile.source == str(path)


def test_notifier_profile_carries_the_guides_values() -> None:
    p = load_profile(ROOT / "profiles" / "notifier.toml")
    assert p == Profile(source=p.source, name="notifier")  # the file spells out the defaults
    assert p.region == "eu-west-2"
    assert p.vpc.cidr == "10.0.0.0/16"
    assert [s.cidr for s in p.vpc.subnets] == ["10.0.0.0/24", "10.0.1.0/24"]
    assert p.iam.group_policies == GUIDE_GROUP_POLICIES
    assert p.trigger.schedule == "cron(0 * * * ? *)"
    assert p.min_timeout_s == 300


BAD = {
    "syntax": ("[vpc\nname = 1", "not valid TOML"),
    "wrong type": ('[lambda]\nmemory_mb = "lots"', "key 'lambda.memory_mb'"),
    "unknown key": ('[vpc]\nnmae = "x"', "key 'vpc.nmae': unknown key"),
    "unknown section": ('[vcp]\nname = "x"', "key 'vcp': unknown key"),
    "invalid cidr": ('[vpc]\ncidr = "10.0.0.0/33"', "key 'vpc.cidr': not an IPv4 CIDR"),
    "host bits": ('[vpc]\ncidr = "10.0.0.1/16"', "key 'vpc.cidr'"),
    "unknown variant": ('[variants]\ndatabase = "mongodb"', "key 'variants.database': expected"),
    "unknown region": ('[deployment]\nregion = "eu-west-9"', "unknown AWS region 'eu-west-9'"),
    "subnet outside vpc": (
        '[vpc]\nsubnets = [{name = "a", cidr = "10.1.0.0/24"}, {name = "b", cidr = "10.0.1.0/24"}]',
        "is not inside the VPC",
    ),
    "one subnet": (
        '[vpc]\nsubnets = [{name = "a", cidr = "10.0.0.0/24"}]',
        "at least two Lambda subnets",
    ),
    "nat without public subnet": (
        '[variants]\negress = "nat-gateway"',
        'needs a subnet with role = "public"',
    ),
    "negative budget": ("[costs]\nbudget_usd_month = -1", "key 'costs.budget_usd_month'"),
    # Names that reach ARNs and the checker's policy: a wildcard would widen what it grants.
    "secret wildcard": ('[secret]\nname = "*"', "key 'secret.name': '*' is not a valid secret"),
    "probe prefix wildcard": ('[probe]\nname_prefix = "*"', "key 'probe.name_prefix'"),
    "role wildcard": ('[lambda]\nrole = "Wiki*"', "key 'lambda.role': 'Wiki*' is not a valid IAM"),
    "topic wildcard": ('[notify]\nsns_topic = "alerts*"', "key 'notify.sns_topic'"),
    "function blank": ('[lambda]\nfunction = "a b"', "key 'lambda.function'"),
    "repository upper": ('[redeployment]\necr_repository = "Notifier"', "valid ECR repository"),
    "machine wildcard": ('[step_functions]\nstate_machine = "*"', "valid state machine name"),
    "infinite timeout": ("[timeouts]\nread_s = inf", "key 'timeouts.read_s'"),
    "nan budget": ("[costs]\nbudget_usd_month = nan", "key 'costs.budget_usd_month'"),
    "nested too deeply": ("x = " + "[" * 5000 + "]" * 5000, "nested too deeply"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_profile_gives_one_clear_line(case: str, tmp_path: Path) -> None:
    text, message = BAD[case]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UsageError) as err:
        load_profile(path)
    line = str(err.value)
    assert "\n" not in line
    assert line.startswith(str(path))
    assert message in line


def test_missing_and_unreadable_profile(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="profile not found"):
        load_profile(tmp_path / "nope.toml")
    with pytest.raises(UsageError, match="not a regular file"):
        load_profile(tmp_path)  # a directory


def test_a_fifo_or_a_huge_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    """A FIFO would block the read for ever: refused before opening it."""
    import os

    fifo = tmp_path / "profile.toml"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="not a regular file"):
        load_profile(fifo)
    huge = tmp_path / "huge.toml"
    huge.write_text("# " + "x" * (2 * 1024 * 1024))
    with pytest.raises(UsageError, match="not a profile"):
        load_profile(huge)


def test_a_topic_arn_and_the_shipped_names_are_valid(tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text(
        '[notify]\nsns_topic = "arn:aws:sns:eu-west-2:123456789012:notifier-health"\n'
        '[secret]\nname = "WikidotNotifier/auth"\n[redeployment]\necr_repository = "a/b_c"\n'
    )
    assert load_profile(path).notify.sns_topic.endswith(":notifier-health")


def test_zip_path_is_relative_to_the_profile_not_the_working_directory(tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "p.toml").write_text('[redeployment]\nzip_path = "build/lambda.zip"\n')
    (folder / "abs.toml").write_text('[redeployment]\nzip_path = "/srv/lambda.zip"\n')
    assert load_profile(folder / "p.toml").redeployment.zip_path == str(
        folder / "build" / "lambda.zip"
    )
    assert load_profile(folder / "abs.toml").redeployment.zip_path == "/srv/lambda.zip"


def test_a_profile_not_in_utf8_is_refused_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('name = "café"\n'.encode("latin-1"))
    with pytest.raises(UsageError, match=r"latin1.toml: not UTF-8 text .*save it as UTF-8"):
        load_profile(bad)


def test_a_profile_saved_with_a_byte_order_mark_and_crlf_lines_is_read(tmp_path: Path) -> None:
    """Notepad's "UTF-8 with BOM" and Windows line ends: the same profile, not a TOML error."""
    path = tmp_path / "windows.toml"
    path.write_bytes(b"\xef\xbb\xbfname = 'from-windows'\r\n[timeouts]\r\nread_s = 7\r\n")
    profile = load_profile(path)
    assert profile.name == "from-windows" and profile.timeouts.read_s == 7
