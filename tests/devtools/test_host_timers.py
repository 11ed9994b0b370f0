"""devtools.host.timers: 6-field NCRONTAB schedules and the TimerRequest of an occurrence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from devtools.host.errors import HostError
from devtools.host.timers import Schedule, timer_request


def _next(expression: str, start: datetime, count: int = 3) -> list[str]:
    schedule, moments, moment = Schedule(expression), [], start
    for _ in range(count):
        moment = schedule.next_after(moment)
        moments.append(moment.isoformat())
    return moments


START = datetime(2026, 1, 1, 0, 0, 7, 500000, tzinfo=UTC)  # a Thursday


def test_ncrontab_six_fields_with_seconds() -> None:
    assert _next("*/1 * * * * *", START) == [
        "2026-01-01T00:00:08+00:00", "2026-01-01T00:00:09+00:00", "2026-01-01T00:00:10+00:00",
    ]  # fmt: skip
    assert _next("*/10 * * * * *", START, 2) == ["2026-01-01T00:00:10+00:00", "2026-01-01T00:00:20+00:00"]
    assert _next("0 */5 * * * *", START, 2) == ["2026-01-01T00:05:00+00:00", "2026-01-01T00:10:00+00:00"]
    assert _next("30 15 10 * * 1-5", START, 3) == [
        "2026-01-01T10:15:30+00:00", "2026-01-02T10:15:30+00:00", "2026-01-05T10:15:30+00:00",
    ]  # fmt: skip
    assert _next("0 0 9 * * MON", START, 1) == ["2026-01-05T09:00:00+00:00"]
    assert _next("0 0 0 1 1 *", START, 1) == ["2027-01-01T00:00:00+00:00"]


def test_ncrontab_day_and_weekday_both_apply() -> None:
    assert _next("0 0 0 13 * 5", START, 2) == ["2026-02-13T00:00:00+00:00", "2026-03-13T00:00:00+00:00"]


def test_next_after_answers_in_utc() -> None:
    in_paris = START.astimezone(timezone(timedelta(hours=1)))
    assert Schedule("0 0 * * * *").next_after(in_paris).isoformat() == "2026-01-01T01:00:00+00:00"


@pytest.mark.parametrize(
    "expression",
    ["", "* * *", "61 * * * * *", "* * * * * * * *", "every minute",
     "*/15 * * * *", "00:00:30"],  # 5-field cron and TimeSpan: the app's setting must be 6-field NCRONTAB
)  # fmt: skip
def test_invalid_schedules(expression: str) -> None:
    with pytest.raises(HostError):
        Schedule(expression)


def test_timer_request_of_an_occurrence() -> None:
    scheduled = datetime.now(UTC) + timedelta(hours=1)  # not yet due: never past due, however slow the test
    last, nxt = scheduled - timedelta(seconds=10), scheduled + timedelta(seconds=10)
    on_time = timer_request(scheduled, last, nxt)
    assert on_time.past_due is False
    assert on_time.schedule_status["Last"] == last.isoformat()
    assert on_time.schedule_status["Next"] == nxt.isoformat()
    assert timer_request(scheduled, None, nxt).schedule_status["Last"] == "0001-01-01T00:00:00+00:00"
    assert timer_request(scheduled - timedelta(hours=2), None, nxt).past_due is True
