"""The run history: what changed since the last run (pure ``compare``), and a history file
that is missing, corrupt or unwritable never breaks a run."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runbook.profile import History, Profile
from runbook.report import history, writers
from runbook.report.history import compare
from tests.unit.run_reports import RULE, VPC, check_of, recorded, report_of, section_of

T = [f"2026-11-{day:02d}T03:00:00+00:00" for day in range(1, 30)]  # one run a night
NOW = datetime(2026, 11, 30, 3, 0, 5, tzinfo=UTC)
SETTINGS = History()


def rec(started: str, profile: str = "p", source: str = "p.toml", **statuses: str) -> dict:
    """A history record of a run that evaluated ``statuses`` (check id → status, or
    ``fail:<incident>,<incident>`` for a failure naming its incidents)."""
    checks = {}
    for check_id, status in statuses.items():
        status, _, named = status.partition(":")
        checks[check_id] = {"section": "vpc", "status": status}
        if named:
            checks[check_id]["incidents"] = named.split(",")
    return {
        "schema": 1,
        "started": started,
        "profile": profile,
        "source": source,
        "mode": "verify",
        "exit_status": 0,
        "checks": checks,
    }


def at(record: dict, **fields: Any) -> dict:
    """``record`` with other fields (account, lookback, announced)."""
    return {**record, **fields}


def kinds(result: dict[str, Any]) -> dict[str, tuple[str, str | None, str]]:
    return {c["id"]: (c["kind"], c["from"], c["to"]) for c in result["changes"]}


# --- compare ------------------------------------------------------------------------------


def test_new_failure_since_the_last_run() -> None:
    result = compare([rec(T[0], a="pass", b="pass")], rec(T[1], a="fail", b="pass"), 10, 3)
    assert result["previous_run"] == T[0]
    assert result["changes"] == [
        {
            "id": "a",
            "section": "vpc",
            "kind": "new_failure",
            "from": "pass",
            "to": "fail",
            "previous_run": T[0],
        }
    ]
    assert result["checks"]["a"]["since"] == T[1]
    assert result["checks"]["b"] == {"since": None, "changes": 0, "flapping": False}


def test_fixed_after_a_failure_checked_again_after_an_error() -> None:
    result = compare([rec(T[0], a="fail", b="error")], rec(T[1], a="pass", b="pass"), 10, 3)
    assert kinds(result) == {
        "a": ("fixed", "fail", "pass"),
        "b": ("checked_again", "error", "pass"),
    }
    assert result["checks"]["a"]["since"] is None


def test_a_night_that_could_not_check_neither_makes_news_nor_ends_a_streak() -> None:
    """fail, error, fail: still the same failure (checked again, not new), failing since the
    first; pass, error, pass: checked again, not fixed; fail, error, pass: fixed."""
    previous = [rec(T[0], a="fail", b="pass", c="fail"), rec(T[1], a="error", b="error", c="error")]
    result = compare(previous, rec(T[2], a="fail", b="pass", c="pass"), 10, 3)
    assert kinds(result) == {
        "a": ("checked_again", "error", "fail"),
        "b": ("checked_again", "error", "pass"),
        "c": ("fixed", "error", "pass"),
    }
    assert result["checks"]["a"]["since"] == T[0]
    assert compare([*previous, rec(T[2], a="fail")], rec(T[3], a="fail"), 10, 3)["changes"] == []


def test_could_not_check_newly() -> None:
    result = compare([rec(T[0], a="pass", b="fail")], rec(T[1], a="error", b="error"), 10, 3)
    assert kinds(result) == {
        "a": ("could_not_check", "pass", "error"),
        "b": ("could_not_check", "fail", "error"),
    }


def test_an_error_that_becomes_a_failure_is_a_new_failure() -> None:
    result = compare([rec(T[0], a="error")], rec(T[1], a="fail"), 10, 3)
    assert kinds(result) == {"a": ("new_failure", "error", "fail")}


def test_nothing_changed_is_no_change() -> None:
    previous = [rec(T[0], a="fail", b="pass", c="error")]
    assert compare(previous, rec(T[1], a="fail", b="pass", c="error"), 10, 3)["changes"] == []


def test_each_check_is_compared_with_the_last_run_that_evaluated_it() -> None:
    """A run of one section (-m) says nothing about the others."""
    previous = [rec(T[0], a="fail", b="pass"), rec(T[1], b="pass")]
    result = compare(previous, rec(T[2], a="pass", b="pass"), 10, 3)
    assert result["previous_run"] == T[1]
    assert result["changes"][0]["kind"] == "fixed"
    assert result["changes"][0]["previous_run"] == T[0]


def test_failing_since_spans_runs_that_did_not_evaluate_the_check() -> None:
    previous = [
        rec(T[0], a="pass"),
        rec(T[1], a="fail"),
        rec(T[2], b="pass"),  # a not selected
        rec(T[3], a="fail"),
        rec(T[4]),
    ]
    result = compare(previous, rec(T[5], a="fail"), 10, 3)
    assert result["checks"]["a"]["since"] == T[1]
    assert result["changes"] == []  # failing before, failing now: not news


def test_a_pass_breaks_the_streak() -> None:
    previous = [rec(T[0], a="fail"), rec(T[1], a="pass"), rec(T[2], a="fail")]
    assert compare(previous, rec(T[3], a="fail"), 10, 3)["checks"]["a"]["since"] == T[2]


def test_failing_since_the_oldest_run_kept() -> None:
    previous = [rec(T[0], a="fail"), rec(T[1], a="fail")]
    assert compare(previous, rec(T[2], a="fail"), 10, 3)["checks"]["a"]["since"] == T[0]


def test_flapping_counts_changes_within_the_last_runs_only() -> None:
    states = ["pass", "fail", "pass", "fail", "pass", "fail"]  # 5 changes in all
    previous = [rec(T[i], a=s) for i, s in enumerate(states[:-1])]
    current = rec(T[5], a=states[-1])
    assert compare(previous, current, 10, 3)["checks"]["a"] == {
        "since": T[5],
        "changes": 5,
        "flapping": True,
    }
    # The last 3 runs (this one included) hold 2 changes: below 3.
    assert compare(previous, current, 3, 3)["checks"]["a"]["changes"] == 2
    assert compare(previous, current, 3, 3)["checks"]["a"]["flapping"] is False
    assert compare(previous, current, 4, 3)["checks"]["a"]["flapping"] is True


def test_flapping_ignores_runs_that_did_not_evaluate_the_check() -> None:
    previous = [rec(T[0], a="pass"), rec(T[1]), rec(T[2], a="fail"), rec(T[3])]
    assert compare(previous, rec(T[4], a="pass"), 10, 3)["checks"]["a"]["changes"] == 2


def test_other_profiles_are_not_mixed() -> None:
    previous = [
        rec(T[0], a="pass"),
        rec(T[1], profile="other", a="fail"),
        rec(T[2], source="elsewhere/p.toml", a="fail"),  # same name, another file
    ]
    result = compare(previous, rec(T[3], a="pass"), 10, 3)
    assert result["previous_run"] == T[0]
    assert result["runs_compared"] == 1
    assert result["changes"] == []
    assert result["checks"]["a"]["changes"] == 0


def test_first_run_reports_only_what_is_not_healthy() -> None:
    result = compare([], rec(T[0], a="fail", b="error", c="pass"), 10, 3)
    assert result["previous_run"] is None
    assert kinds(result) == {
        "a": ("new_failure", None, "fail"),
        "b": ("could_not_check", None, "error"),
    }


def test_a_failure_that_goes_on_is_new_when_it_names_a_new_incident() -> None:
    """Last night's missed hour was announced; tonight's is news, though the check failed
    both nights. Incidents seen before (a look-back longer than a day) are not."""
    previous = [rec(T[0], a="fail:missed 01T05", b="fail:missed 01T05")]
    result = compare(previous, rec(T[1], a="fail:missed 01T05,missed 02T14", b="fail"), 10, 3)
    assert kinds(result) == {"a": ("new_failure", "fail", "fail")}
    assert result["changes"][0]["new_incidents"] == ["missed 02T14"]
    assert result["checks"]["a"]["since"] == T[0]  # failing all along
    same = compare(previous, rec(T[1], a="fail:missed 01T05"), 10, 3)
    assert same["changes"] == []


def test_the_new_incidents_are_shown_in_the_terminal_and_the_markdown(tmp_path: Path) -> None:
    hours = [f"missed 2026-11-23T{h:02d}:00Z" for h in range(8)]
    recorded(report_of({RULE: "fail"}, started=T[0], incidents={RULE: hours[:1]}), tmp_path)
    report = recorded(report_of({RULE: "fail"}, started=T[1], incidents={RULE: hours}), tmp_path)
    new = ", ".join(hours[1:6]) + " and 2 more"
    # listed once, where the failure is, and not again among the changes
    assert f"FAIL (high) trigger/{RULE}: {RULE} is fail [new: {new}]" in writers.problems(report)
    assert writers.history_lines(report) == [
        f"since the last run ({T[0]}): 1 new failure, 0 fixed, 0 could not check"
    ]
    assert f"| {RULE} is fail (new: {new}) |" in writers.markdown(report)


def test_incidents_are_compared_with_the_last_run_that_judged_the_check() -> None:
    previous = [rec(T[0], a="fail:missed 01T05"), rec(T[1], a="error")]
    result = compare(previous, rec(T[2], a="fail:missed 01T05,missed 02T14"), 10, 3)
    assert [(c["kind"], c["new_incidents"]) for c in result["changes"]] == [
        ("new_failure", ["missed 02T14"])
    ]


def test_failing_checks_record_their_incidents() -> None:
    report = report_of({VPC: "pass", RULE: "fail"}, incidents={RULE: ["missed 2026-11-23T05:00Z"]})
    record = history.record_of(report)
    assert record["checks"][RULE]["incidents"] == ["missed 2026-11-23T05:00Z"]
    assert "incidents" not in record["checks"][VPC]


def test_another_account_or_a_look_back_asked_for_is_another_history() -> None:
    """Staging and production through AWS_PROFILE with one profile file, or a look-back asked
    for by hand (--lookback-hours), would make false news of each other; the profile's own
    look-back may change; old records (no account, no look-back) match any."""
    nightly = {"hours": 24, "asked": None}
    previous = [
        at(rec(T[0], a="pass"), account="111111111111", lookback=nightly),
        at(rec(T[1], a="fail"), account="222222222222", lookback=nightly),
        at(rec(T[2], a="fail"), account="111111111111", lookback={"hours": 72, "asked": 72}),
        at(rec(T[3], a="pass"), account="111111111111", lookback={"hours": 26, "asked": None}),
        rec(T[4], b="fail"),  # written before accounts and look-backs were recorded
    ]
    current = at(rec(T[5], a="pass", b="fail"), account="111111111111", lookback=nightly)
    result = compare(previous, current, 10, 3)
    assert result["runs_compared"] == 3 and result["previous_run"] == T[4]
    assert result["changes"] == []
    by_hand = at(rec(T[5], a="fail"), account="111111111111", lookback={"hours": 72, "asked": 72})
    assert compare(previous, by_hand, 10, 3)["previous_run"] == T[4]
    assert compare(previous[:4], by_hand, 10, 3)["previous_run"] == T[2]


def test_a_failure_recorded_without_incidents_names_nothing_new() -> None:
    """The first run after an upgrade: the last failure was recorded without its hours, so
    none can be told new; and a check that names none (absent) is the same failure."""
    previous = [rec(T[0], a="fail", b="fail")]
    result = compare(previous, rec(T[1], a="fail:missed 01T05", b="fail"), 10, 3)
    assert result["changes"] == []


def test_hours_no_run_looked_back_over_are_named() -> None:
    """A night skipped, or a schedule that ran an hour late: the hours between the windows of
    runs that judged the operations; a run that could not check them covered nothing."""

    def night(day: int, end_hour: int, status: str = "pass") -> dict:
        end = datetime(2026, 11, day, end_hour, tzinfo=UTC)
        window = {"hours": 24, "start": (end - timedelta(hours=24)).isoformat()}
        record = at(rec(T[day]), lookback={**window, "end": end.isoformat()})
        record["checks"] = {"rule": {"section": "operations", "status": status}}
        return record

    assert compare([night(1, 3)], night(2, 3), 10, 3)["uncovered"] is None
    assert compare([night(1, 3)], night(2, 4), 10, 3)["uncovered"] == {
        "start": "2026-11-01T03:00:00+00:00",
        "end": "2026-11-01T04:00:00+00:00",
        "hours": 1,
    }
    assert compare([night(1, 3), rec(T[2])], night(3, 3), 10, 3)["uncovered"]["hours"] == 24
    throttled = night(2, 3, status="error")
    assert compare([night(1, 3), throttled], night(3, 3), 10, 3)["uncovered"]["hours"] == 24
    assert compare([night(1, 3)], throttled, 10, 3)["uncovered"] is None


def notified(report: dict[str, Any], reports: Path, **sent: bool) -> dict[str, Any]:
    """Compare and record ``report`` as if its notifications went as ``sent`` says."""
    pending = history.apply(report, reports, SETTINGS)
    report["notifications"] = [{"channel": c, "sent": ok} for c, ok in sent.items()]
    history.record(pending, report)
    return report["history"]


def test_a_channel_a_notification_missed_is_told_what_it_missed(tmp_path: Path) -> None:
    """The webhook was down the night VPC broke: the next night it is told, SNS is not told
    twice; once told, both are quiet."""
    notified(report_of({VPC: "pass"}, started=T[0]), tmp_path)
    notified(report_of({VPC: "fail"}, started=T[1]), tmp_path, sns=True, webhook=False)
    assert lines(tmp_path / "history.jsonl")[-1]["unannounced"] == ["webhook"]

    h = notified(report_of({VPC: "fail"}, started=T[2]), tmp_path, webhook=True)
    assert h["changes"] == [] and writers.to_announce(h, "sns") == []
    assert h["unannounced"]["webhook"]["since"] == T[0]
    assert [(c["id"], c["kind"]) for c in writers.to_announce(h, "webhook")] == [
        (VPC, "new_failure")
    ]
    assert writers.announcement(h, "webhook")[0] == (
        f"since the last run whose changes reached it ({T[0]}); a later notification "
        "failed: 1 new failure, 0 fixed, 0 could not check"
    )
    assert notified(report_of({VPC: "fail"}, started=T[3]), tmp_path)["unannounced"] == {}


def test_a_channel_that_keeps_failing_does_not_make_the_others_repeat(tmp_path: Path) -> None:
    notified(report_of({VPC: "pass"}, started=T[0]), tmp_path)
    notified(report_of({VPC: "fail"}, started=T[1]), tmp_path, sns=True, webhook=False)
    for night in T[2:5]:
        h = notified(report_of({VPC: "fail"}, started=night), tmp_path, webhook=False)
        assert writers.to_announce(h, "sns") == []
        assert [c["kind"] for c in writers.to_announce(h, "webhook")] == ["new_failure"]
    assert h["unannounced"]["webhook"]["since"] == T[0]


def test_another_deployment_in_the_file_owes_nothing(tmp_path: Path) -> None:
    """Staging's runs between production's: production's channels were told, nothing owed."""
    staging = Profile(name="lab", source="staging.toml")
    notified(report_of({VPC: "pass"}, started=T[0]), tmp_path, sns=True)
    notified(report_of({VPC: "fail"}, started=T[1], profile=staging), tmp_path, sns=False)
    h = notified(report_of({VPC: "fail"}, started=T[2]), tmp_path, sns=True)
    assert h["unannounced"] == {}
    assert writers.announcement(h, "sns")[0].startswith(f"since the last run ({T[0]})")
    first = notified(report_of({VPC: "fail"}, started=T[3], profile=Profile(name="new")), tmp_path)
    assert first["unannounced"] == {} and first["note"] == history.FIRST_RUN


def test_skipped_checks_are_not_recorded() -> None:
    record = history.record_of(report_of({VPC: "pass", RULE: "fail"}))
    assert record["checks"] == {
        VPC: {"section": "vpc", "status": "pass"},
        RULE: {"section": "trigger", "status": "fail"},
    }
    assert record["profile"] == "lab" and record["source"] == "<defaults>"
    assert record["exit_status"] == 1 and record["mode"] == "verify"


# --- the file and the report --------------------------------------------------------------


def written(report: dict[str, Any]) -> dict[str, Any]:
    """The line a run with nothing to announce (or announced) writes."""
    return {**history.record_of(report), "unannounced": []}


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_missing_history_is_a_first_run(tmp_path: Path) -> None:
    report = report_of({VPC: "pass", RULE: "fail"}, started=T[0])
    recorded(report, tmp_path, SETTINGS, NOW)
    h = report["history"]
    assert h["note"] == "no history yet: this is the first run"
    assert h["problem"] is None and h["recorded"] is True and h["previous_run"] is None
    assert h["counts"] == {"new_failure": 1, "fixed": 0, "could_not_check": 0, "checked_again": 0}
    assert lines(tmp_path / "history.jsonl") == [written(report)]
    assert writers.history_lines(report)[0] == (
        "no history yet: this is the first run; 1 new failure, 0 fixed, 0 could not check"
    )


def test_second_run_shows_the_changes_per_section_and_check(tmp_path: Path) -> None:
    recorded(report_of({VPC: "pass", RULE: "fail"}, started=T[0]), tmp_path, SETTINGS)
    report = report_of({VPC: "fail", RULE: "fail"}, started=T[1])
    recorded(report, tmp_path, SETTINGS)

    h = report["history"]
    assert h["previous_run"] == T[0] and h["runs_compared"] == 1
    assert [(c["id"], c["kind"], c["summary"]) for c in h["changes"]] == [
        (VPC, "new_failure", f"{VPC} is fail")
    ]
    assert section_of(report, "vpc")["changes"] == {
        "new_failure": 1,
        "fixed": 0,
        "could_not_check": 0,
        "checked_again": 0,
    }
    assert section_of(report, "trigger")["changes"]["new_failure"] == 0
    assert check_of(report, RULE)["history"] == {"since": T[0], "changes": 0, "flapping": False}
    assert check_of(report, "root_account_has_no_access_keys")["history"]["since"] is None
    assert len(lines(tmp_path / "history.jsonl")) == 2

    terminal = writers.history_lines(report)
    assert terminal[:1] == [
        f"since the last run ({T[0]}): 1 new failure, 0 fixed, 0 could not check",
    ]
    assert f"FAIL (high) vpc/{VPC}: {VPC} is fail [new]" in writers.problems(report)
    assert f"FAIL (high) trigger/{RULE}: {RULE} is fail (failing since {T[0]})" in writers.problems(
        report
    )
    md = writers.markdown(report)
    assert "## Changes since the last run" in md
    assert f"| new failure | vpc | `{VPC}` | pass | fail | {VPC} is fail |" in md
    assert f"  - failing since {T[0]}" in md


def test_flapping_check_is_listed(tmp_path: Path) -> None:
    for i, status in enumerate(["pass", "fail", "pass"]):
        recorded(report_of({RULE: status}, started=T[i]), tmp_path, SETTINGS)
    report = report_of({RULE: "fail"}, started=T[3])
    recorded(report, tmp_path, SETTINGS)
    assert report["history"]["flapping"] == [RULE]
    assert f"  flapping: trigger/{RULE} changed state 3 times in the last 10 runs" in (
        writers.history_lines(report)
    )


CORRUPT = {
    "bad JSON": ("{not json\n", "line 1 is not JSON"),
    "not an object": ("[1, 2]\n", "line 1: not a JSON object"),
    "wrong schema": ('{"schema": 2}\n', "line 1: schema 2, expected 1"),
    "bad check": (
        json.dumps({**rec(T[0]), "checks": {"a": {"status": "maybe"}}}) + "\n",
        "line 1: check 'a' is not {section, status: pass|fail|error, incidents}",
    ),
    "not UTF-8": (b"\xff\xfe\n", "not UTF-8 text"),
    "bad look-back time": (
        json.dumps({**rec(T[0]), "lookback": {"hours": 24, "start": "yesterday"}}) + "\n",
        "line 1: 'lookback' is not {hours, asked, start, end}",
    ),
    # Once accepted, then a TypeError in every later run (the hours no run looked back over).
    "look-back without its end": (
        json.dumps(
            {
                **rec(T[0]),
                "lookback": {"hours": 24, "start": "2026-11-01T03:00:00+00:00", "end": None},
                "checks": {"rule": {"section": "operations", "status": "pass"}},
            }
        )
        + "\n",
        "line 1: 'lookback' has one bound without the other, or ends before it starts",
    ),
    "look-back ending before it starts": (
        json.dumps(
            {
                **rec(T[0]),
                "lookback": {
                    "hours": 24,
                    "start": "2026-11-02T03:00:00+00:00",
                    "end": "2026-11-01T03:00:00+00:00",
                },
            }
        )
        + "\n",
        "line 1: 'lookback' has one bound without the other, or ends before it starts",
    ),
    "bad incident": (
        json.dumps(
            {**rec(T[0]), "checks": {"a": {"section": "s", "status": "fail", "incidents": [[1]]}}}
        )
        + "\n",
        "line 1: check 'a' is not {section, status: pass|fail|error, incidents}",
    ),
    "bad channels": (
        json.dumps({**rec(T[0]), "unannounced": "webhook"}) + "\n",
        "line 1: 'unannounced' is not a list of channels",
    ),
}


@pytest.mark.parametrize("case", list(CORRUPT))
def test_corrupt_history_is_moved_aside_and_a_fresh_one_started(case: str, tmp_path: Path) -> None:
    content, why = CORRUPT[case]
    path = tmp_path / "history.jsonl"
    good = json.dumps(rec(T[0])) + "\n"  # a good line first: the bad one is found anywhere
    if isinstance(content, bytes):
        path.write_bytes(good.encode() + content)
    else:
        path.write_text(good + content)
        why = why.replace("line 1", "line 2")
    before = path.read_bytes()
    report = report_of({VPC: "fail"}, started=T[1])

    recorded(report, tmp_path, SETTINGS, NOW)

    h = report["history"]
    assert h["problem"] == (
        f"history {path} was unusable ({why}): moved aside to "
        "history.jsonl.corrupt-20261130T030005Z; a fresh history starts with this run"
    )
    assert (tmp_path / "history.jsonl.corrupt-20261130T030005Z").read_bytes() == before
    assert lines(path) == [written(report)]
    assert h["note"] == "a fresh history starts with this run" and h["recorded"] is True
    assert [c["kind"] for c in h["changes"]] == ["new_failure"]  # as on a first run
    assert writers.history_lines(report)[0] == f"WARNING: {h['problem']}"
    assert f"> **warning**: {h['problem']}" in writers.markdown(report)


def test_a_record_valid_in_shape_that_cannot_be_compared_is_set_aside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The class, not only the case: whatever a valid record still breaks in the comparison,
    the run keeps its verdict, the history is moved aside once, and a fresh one starts."""
    path = tmp_path / "history.jsonl"
    path.write_text(json.dumps(rec(T[0])) + "\n")

    compare = history.compare

    def broken(records: list, *args: Any) -> dict[str, Any]:
        if records:  # only with a record to compare with
            raise TypeError("fromisoformat: argument must be str")
        return compare(records, *args)

    monkeypatch.setattr(history, "compare", broken)
    report = report_of({VPC: "fail"}, started=T[1])
    recorded(report, tmp_path, SETTINGS, NOW)
    h = report["history"]
    assert h["problem"].startswith(f"history {path} was unusable (a record cannot be compared")
    assert (tmp_path / "history.jsonl.corrupt-20261130T030005Z").exists()
    assert lines(path) == [written(report)] and h["recorded"] is True
    assert [c["kind"] for c in h["changes"]] == ["new_failure"]  # as on a first run


def test_a_directory_in_its_place_is_moved_aside(tmp_path: Path) -> None:
    (tmp_path / "history.jsonl").mkdir()
    report = report_of({VPC: "pass"})
    recorded(report, tmp_path, SETTINGS, NOW)
    assert "(not a regular file): moved aside" in report["history"]["problem"]
    assert (tmp_path / "history.jsonl.corrupt-20261130T030005Z").is_dir()
    assert lines(tmp_path / "history.jsonl") == [written(report)]


def test_a_bad_history_that_cannot_be_moved_aside_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text("{not json\n")
    (tmp_path / "history.jsonl.corrupt-20261130T030005Z").write_text("an earlier one\n")
    report = report_of({VPC: "pass"})
    recorded(report, tmp_path, SETTINGS, NOW)
    h = report["history"]
    assert "could not be moved aside" in h["problem"] and "not recorded" in h["problem"]
    assert h["recorded"] is False and h["note"] == "no usable history: compared with nothing"
    assert path.read_text() == "{not json\n"


def test_a_history_that_cannot_be_written_is_reported(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    reports = tmp_path / "a-file" / "reports"  # cannot be made: its parent is a file
    report = report_of({VPC: "fail"})
    recorded(report, reports, SETTINGS, NOW)
    h = report["history"]
    assert h["recorded"] is False
    assert h["problem"].startswith(f"could not write history {reports / 'history.jsonl'}")
    assert h["note"] == "no history yet: this is the first run"


def test_a_last_line_without_newline_is_continued_on_a_line_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text(json.dumps(rec(T[0])))
    recorded(report_of({VPC: "pass"}), tmp_path, SETTINGS)
    assert len(lines(path)) == 2


def test_the_file_keeps_the_last_runs(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    for i in range(5):
        history.save(path, history.load(path, NOW), rec(T[i]), keep=3)
    assert [r["started"] for r in lines(path)] == T[2:5]
    assert not (tmp_path / "history.jsonl.tmp").exists()


def test_a_report_without_history_renders_without_the_part() -> None:
    """A dry run has no history: the writers leave the part out."""
    report = report_of({VPC: "fail"})
    assert writers.history_lines(report) == []
    assert "Changes since the last run" not in writers.markdown(report)


def test_a_last_line_cut_short_is_dropped_and_the_history_kept(tmp_path: Path) -> None:
    """A run killed while appending leaves half a line: only that line is lost."""
    path = tmp_path / "history.jsonl"
    first = rec(T[0], "lab", "<defaults>", **{VPC: "fail"})
    path.write_text(json.dumps(first) + "\n" + json.dumps(first)[:40])
    report = report_of({VPC: "fail"}, started=T[2])

    recorded(report, tmp_path, SETTINGS, NOW)

    h = report["history"]
    assert h["problem"] == "history's last line was cut short (40 characters): dropped"
    assert h["previous_run"] == T[0] and h["changes"] == []  # still failing: not news
    assert lines(path) == [first, written(report)]
    assert not list(tmp_path.glob("*.corrupt-*"))


def test_one_profile_one_history_however_its_path_is_spelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "p.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    for i, source in enumerate(("p.toml", str(tmp_path / "p.toml"))):
        report = report_of({VPC: "fail"}, started=T[i], profile=Profile(name="p", source=source))
        recorded(report, tmp_path, SETTINGS)
    assert report["history"]["previous_run"] == T[0] and report["history"]["changes"] == []
