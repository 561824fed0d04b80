"""Schedule expressions: AWS's cron rules and the next fire times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from checks.cron import ScheduleError, next_fire_times

NOW = datetime(2026, 11, 23, 10, 17, tzinfo=UTC)


def test_hourly_schedule_fires_at_the_top_of_the_next_three_hours() -> None:
    assert next_fire_times("cron(0 * * * ? *)", NOW) == [
        datetime(2026, 11, 23, h, 0, tzinfo=UTC) for h in (11, 12, 13)
    ]


def test_weekday_schedule() -> None:
    times = next_fire_times("cron(15 10 ? * MON-FRI *)", datetime(2026, 11, 27, 11, tzinfo=UTC))
    assert [t.strftime("%a %H:%M") for t in times] == ["Mon 10:15", "Tue 10:15", "Wed 10:15"]


@pytest.mark.parametrize(
    "expr",
    [
        "cron(0 * * * * *)",  # neither day field is '?'
        "cron(0 * ? * ? *)",  # both are
        "cron(0 * * *)",  # five fields missing one
        "cron(61 * * * ? *)",  # minute out of range
        "rate(1 hour)",  # not cron
        "0 * * * ? *",  # no cron(...)
    ],
)
def test_invalid_expressions_are_refused(expr: str) -> None:
    with pytest.raises(ScheduleError):
        next_fire_times(expr, NOW)
