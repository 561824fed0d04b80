"""The fleet file, the choice of deployments and shards, the selection of checks outside
pytest, and the fleet summary and its merge (no AWS: the runs are the lab suite's)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from runbook.errors import ExitStatus, UsageError
from runbook.fleet import load_fleet, parse_shard, select, shard, shard_of
from runbook.fleet_run import selected_checks
from runbook.report import fleet_summary
from runbook.sections import SECTIONS
from tests.browser import browse

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "profiles" / "lab.toml"


def fleet_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(text.replace("{lab}", str(LAB)))
    return path


def test_defaults_overrides_and_tags_are_laid_over_each_deployment(tmp_path: Path) -> None:
    path = fleet_file(
        tmp_path,
        """
        [defaults]
        profile = "{lab}"
        aws_profile = "checker"
        tags = ["lab"]

        [[deployment]]
        name = "eu"
        tags = ["prod", "lab"]

        [[deployment]]
        name = "us"
        aws_profile = "us-checker"
        role_arn = "arn:aws:iam::111122223333:role/NotifierChecker"
        endpoint_url = "http://127.0.0.1:5000"
        [deployment.overrides]
        deployment = { region = "us-east-1" }
        costs = { budget_usd_month = 3.5 }
        """,
    )
    eu, us = load_fleet(path)
    assert (eu.name, eu.tags, eu.aws_profile, eu.role_arn) == (
        "eu",
        ("lab", "prod"),
        "checker",
        None,
    )
    assert eu.profile.region == "eu-west-2" and eu.profile.costs.budget_usd_month == 15.0
    assert us.profile.region == "us-east-1" and us.profile.costs.budget_usd_month == 3.5
    assert us.profile.variants == eu.profile.variants  # the rest of the table kept
    assert (us.aws_profile, us.endpoint_url) == ("us-checker", "http://127.0.0.1:5000")
    assert eu.account_key != us.account_key


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "no [[deployment]] in the file"),
        ('[[deployment]]\nname = "../up"\nprofile = "{lab}"', "deployment '../up', key 'name'"),
        ('[[deployment]]\nname = ".."\nprofile = "{lab}"', "is not a deployment name"),
        ('[[deployment]]\nname = "a"\nprofle = "{lab}"', "deployment 'a', key 'profle': unknown"),
        ('[[deployment]]\nname = "a"', "deployment 'a': no profile"),
        (
            '[[deployment]]\nname = "a"\nprofile = "nope.toml"',
            "deployment 'a': ",
        ),
        (
            '[[deployment]]\nname = "a"\nprofile = "{lab}"\nrole_arn = "NotifierChecker"',
            "is not an IAM role's ARN",
        ),
        (
            '[[deployment]]\nname = "a"\nprofile = "{lab}"\nendpoint_url = "localhost:5000"',
            "is not an endpoint URL",
        ),
        (
            '[[deployment]]\nname = "a"\nprofile = "{lab}"\n'
            '[[deployment]]\nname = "a"\nprofile = "{lab}"',
            "deployment 'a' is named twice",
        ),
        (  # one folder where the file system ignores case
            '[[deployment]]\nname = "prod"\nprofile = "{lab}"\n'
            '[[deployment]]\nname = "Prod"\nprofile = "{lab}"',
            "deployment 'Prod' is named twice",
        ),
        ('[[deployment]]\nname = "a\\n"\nprofile = "{lab}"', "is not a deployment name"),
        (
            '[[deployment]]\nname = "Fleet.json"\nprofile = "{lab}"',
            "the name of the fleet's own summary",
        ),
        (
            '[[deployment]]\nname = "a"\nprofile = "{lab}"\n'
            '[deployment.overrides]\ndeployment = { region = "mars-1" }',
            "deployment 'a' (",  # the overrides are the fleet file's, said so
        ),
        (
            '[[deployment]]\nname = "a"\nprofile = "{lab}"\n'
            "[deployment.overrides]\nvpcc = { name = 'x' }",
            "key 'vpcc': unknown key",
        ),
    ],
)
def test_a_bad_fleet_file_is_one_line_naming_the_deployment(
    tmp_path: Path, text: str, says: str
) -> None:
    path = fleet_file(tmp_path, text)
    with pytest.raises(UsageError) as caught:
        load_fleet(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and says in message, message
    assert "\n" not in message


def test_a_missing_profile_is_named_with_its_deployment(tmp_path: Path) -> None:
    path = fleet_file(tmp_path, '[[deployment]]\nname = "a"\nprofile = "nope.toml"')
    with pytest.raises(UsageError, match=r"deployment 'a': .*nope\.toml: profile not found"):
        load_fleet(path)


def four(tmp_path: Path) -> list:
    rows = "".join(
        f'[[deployment]]\nname = "{name}"\ntags = {json.dumps(tags)}\n'
        for name, tags in (
            ("eu-prod", ["prod", "eu"]),
            ("us-prod", ["prod", "us"]),
            ("eu-test", ["test", "eu"]),
            ("lab", []),
        )
    )
    return load_fleet(fleet_file(tmp_path, f'[defaults]\nprofile = "{{lab}}"\n{rows}'))


def test_names_choose_any_of_them_and_tags_need_every_one(tmp_path: Path) -> None:
    fleet = four(tmp_path)

    def names(chosen: list) -> list[str]:
        return [d.name for d in chosen]

    assert names(select(fleet, None, None)) == ["eu-prod", "us-prod", "eu-test", "lab"]
    assert names(select(fleet, ["lab", "eu-test"], None)) == ["eu-test", "lab"]
    assert names(select(fleet, None, ["prod"])) == ["eu-prod", "us-prod"]
    assert names(select(fleet, None, ["prod", "eu"])) == ["eu-prod"]
    assert names(select(fleet, ["eu-prod", "eu-test"], ["eu", "test"])) == ["eu-test"]
    with pytest.raises(UsageError, match="--deployment 'nope': no such deployment"):
        select(fleet, ["nope"], None)
    with pytest.raises(UsageError, match="no deployment of the fleet has them all"):
        select(fleet, None, ["prod", "test"])


def test_shards_split_the_fleet_and_keep_each_deployment_where_it_was() -> None:
    names = [f"deployment-{i}" for i in range(200)]
    for n in (1, 2, 3, 7):
        parts = [[x for x in names if shard_of(x, n) == k] for k in range(1, n + 1)]
        assert sorted(x for part in parts for x in part) == sorted(
            names
        )  # each in exactly one shard
        assert all(parts), "no shard of 200 left empty"
    # by its name alone: the same shard whatever else the fleet holds, in a new process too
    again = subprocess.run(
        [
            sys.executable,
            "-c",
            "from runbook.fleet import shard_of; print([shard_of(f'deployment-{i}', 3) "
            "for i in range(200)])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(again.stdout) == [shard_of(x, 3) for x in names]


def test_shard_picks_the_deployments_of_its_number(tmp_path: Path) -> None:
    fleet = four(tmp_path)
    picked = [shard(fleet, (k, 3)) for k in (1, 2, 3)]
    assert sorted(d.name for part in picked for d in part) == sorted(d.name for d in fleet)
    assert all(
        shard_of(d.name, 3) == k for k, part in zip((1, 2, 3), picked, strict=True) for d in part
    )


@pytest.mark.parametrize("text", ["0/2", "3/2", "2", "a/b", "1/0", "-1/2", "1/2/3"])
def test_a_shard_is_k_of_n(text: str) -> None:
    with pytest.raises(UsageError, match=r"expected K/N with 1 <= K <= N"):
        parse_shard(text)


def test_the_selection_outside_pytest_is_pytests(tmp_path: Path) -> None:
    """-m chooses the same checks in a fleet as pytest chooses scenarios."""
    for expression in ("smoke and not hosts", "vpc or trigger", "hosts", "not operations"):
        listed = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "--collect-only",
                "-q",
                f"--profile={LAB}",
                f"--reports-dir={tmp_path}",
                "-m",
                expression,
                "-p",
                "no:cacheprovider",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        counted = re.findall(r"^features/test_guide\.py: (\d+)$", listed.stdout, re.MULTILINE)
        chosen = selected_checks(expression)
        assert chosen and [str(len(chosen))] == counted, (expression, listed.stdout[-500:])
    assert {c.section for c in selected_checks("vpc or trigger")} == {"vpc", "trigger"}
    assert len(selected_checks(None)) == len(selected_checks("not nosuchmarker"))


def row(name: str, sections: dict[str, str], status: int, cause: str | None = None) -> dict:
    report = None
    if cause is None:
        report = {
            "sections": [
                {
                    "id": s.id,
                    "status": sections.get(s.id, "pass"),
                    "checks": [{"id": f"{s.id}_check", "status": sections.get(s.id, "pass")}],
                }
                for s in SECTIONS
            ],
            "run": {"fail_on": "low", "account": "123456789012"},
            "profile": {"source": "lab.toml", "region": "eu-west-2"},
        }
        for s in report["sections"]:
            for ch in s["checks"]:
                ch["severity"] = "high"
    return fleet_summary.entry(
        name, ("lab",), report=report, cause=cause, exit_status=status, folder=name, duration_s=1
    )


def test_shards_merged_read_as_the_whole_fleet(tmp_path: Path) -> None:
    rows = [
        row("a", {}, 0),
        row("b", {"vpc": "fail"}, 1),
        row("c", {"secrets": "error"}, 2),
        row("d", {}, 2, cause="could not check: no credentials"),
    ]
    whole = fleet_summary.summary(
        rows, started="2026-12-04T00:00:00+00:00", duration_s=3, shards=[]
    )
    assert whole["exit_status"] == int(ExitStatus.UNHEALTHY)  # a fail beats an error
    assert whole["counts"] == {"healthy": 1, "unhealthy": 1, "could-not-check": 2}
    for k, part in enumerate(([rows[2], rows[0]], [rows[1]], [rows[3]]), start=1):
        folder = tmp_path / f"shard-{k}"
        fleet_summary.write(
            folder,
            fleet_summary.summary(
                part, started=f"2026-12-04T00:0{k}:00+00:00", duration_s=k, shards=[f"{k}/3"]
            ),
        )
    out = tmp_path / "merged"
    merged = fleet_summary.merge([tmp_path / f"shard-{k}" for k in (1, 2, 3)], out)

    def matrix(fleet: dict) -> list:
        return [
            {k: v for k, v in r.items() if k not in ("folder", "duration_s")}
            for r in fleet["deployments"]
        ]

    assert matrix(merged) == matrix(whole)
    assert merged["exit_status"] == whole["exit_status"] and merged["counts"] == whole["counts"]
    assert merged["run"]["shards"] == ["1/3", "2/3", "3/3"]
    assert merged["run"]["started"] == "2026-12-04T00:01:00+00:00"
    assert [r["folder"] for r in merged["deployments"]] == [
        "../shard-1/a",
        "../shard-2/b",
        "../shard-1/c",
        "../shard-3/d",
    ]
    lines = fleet_summary.lines(merged, out)
    assert lines[-1].startswith("fleet verdict: unhealthy (exit status 1): 1 healthy")
    assert any(line.startswith("b: fails vpc_check") for line in lines)
    assert any(line == "d: could not check: no credentials" for line in lines)


def test_a_deployment_in_two_shards_or_a_folder_without_summary_is_refused(
    tmp_path: Path,
) -> None:
    for k in (1, 2):
        fleet_summary.write(
            tmp_path / str(k),
            fleet_summary.summary([row("a", {}, 0)], started="t", duration_s=1, shards=[f"{k}/2"]),
        )
    with pytest.raises(UsageError, match="deployment 'a' is also in another shard"):
        fleet_summary.merge([tmp_path / "1", tmp_path / "2"], tmp_path / "out")
    with pytest.raises(UsageError, match="no fleet summary there"):
        fleet_summary.merge([tmp_path / "nope"], tmp_path / "out")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "fleet.json").write_text('{"run": {}}')
    with pytest.raises(UsageError, match="not a fleet summary"):
        fleet_summary.merge([tmp_path / "other"], tmp_path / "out")


def test_the_fleet_page_in_a_browser(tmp_path: Path) -> None:
    """fleet.html as a person opens it: the verdict, a row a deployment linked to its own
    report, each section's cell coloured by its status, the cause of one not checked across
    its row (escaped), and nothing fetched from anywhere."""
    rows = [
        row("prod-eu", {"iam": "fail", "vpc": "error"}, 1),
        row("dev", {}, 0),
        row("gone", {}, 2, cause="could not check: <b>no credentials</b>"),
    ]
    fleet = fleet_summary.summary(
        rows, started="2026-12-04T03:00:00+00:00", duration_s=9, shards=[]
    )
    assert fleet_summary.write(tmp_path, fleet) == {}
    dom = browse(tmp_path / "fleet.html")
    assert re.search(r'id="verdict">unhealthy \(exit status 1\): 1 healthy, 1 unhealthy', dom)
    assert '<a href="prod-eu/report.html">prod-eu</a>' in dom
    prod = re.search(r'<tr data-verdict="unhealthy">.*?</tr>', dom)[0]
    assert 'class="cell fail" data-section="iam"' in prod
    assert 'class="cell error" data-section="vpc"' in prod
    span = f'<td class="cause" colspan="{len(SECTIONS)}">'
    assert f"{span}could not check: &lt;b&gt;no credentials&lt;/b&gt;</td>" in dom
    assert '<a href="gone/report.html"' not in dom  # nothing to link: it has no report
    shot = tmp_path / "fleet.png"
    browse(tmp_path / "fleet.html", screenshot=shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
