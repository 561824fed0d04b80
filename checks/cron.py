"""EventBridge schedule expressions: AWS's six-field cron with '?', and rate(...).

pyawscron computes the fire times; the rules it does not enforce (six fields, exactly one
of day-of-month and day-of-week is '?') are checked here, since EventBridge's own validation
is not available offline and moto accepts anything.
"""

from __future__ import annotations

import re
from datetime import datetime

from pyawscron import AWSCron

_CRON = re.compile(r"^cron\((?P<body>[^)]*)\)$")


class ScheduleError(ValueError):
    """Not a schedule expression EventBridge would accept."""


def next_fire_times(expression: str, after: datetime, count: int = 3) -> list[datetime]:
    match = _CRON.match(expression.strip())
    if not match:
        raise ScheduleError(f"{expression!r} is not a cron(...) expression")
    fields = match["body"].split()
    if len(fields) != 6:
        raise ScheduleError(f"{expression!r} has {len(fields)} fields; AWS cron needs 6")
    day_of_month, day_of_week = fields[2], fields[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ScheduleError(
            f"{expression!r}: exactly one of day-of-month and day-of-week must be '?'"
        )
    try:
        return AWSCron.get_next_n_schedule(count, after, " ".join(fields))
    except Exception as exc:  # pyawscron raises several types, e.g. on years all in the past
        raise ScheduleError(f"{expression!r}: {exc}") from None
