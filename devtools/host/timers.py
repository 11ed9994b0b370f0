"""Timer triggers: 6-field NCRONTAB schedules, and a loop that fires a function on its schedule."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from azure.functions.timer import TimerRequest
from croniter import croniter

from devtools.host.errors import HostError

NCRONTAB_FIELDS = 6
PAST_DUE_TOLERANCE = timedelta(seconds=1)

Fire = Callable[[TimerRequest], Awaitable[None]]


class Schedule:
    """A 6-field NCRONTAB schedule, `{second} {minute} {hour} {day} {month} {day-of-week}` in UTC.

    As in NCRONTAB, a day and a day-of-week that are both restricted must both match.
    """

    def __init__(self, expression: str) -> None:
        self.expression = expression.strip()
        if len(self.expression.split()) != NCRONTAB_FIELDS:
            raise HostError(f"schedule {self.expression!r}: an NCRONTAB expression has 6 fields")
        if not croniter.is_valid(self.expression, second_at_beginning=True):
            raise HostError(f"schedule {self.expression!r} is not a valid NCRONTAB expression")

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after `moment` (an aware datetime), in UTC."""
        it = croniter(self.expression, moment.astimezone(UTC), second_at_beginning=True, day_or=False)
        nxt: datetime = it.get_next(datetime)
        return nxt.astimezone(UTC)


async def sleep_until(moment: datetime) -> None:
    """Sleep until the wall clock reaches `moment` (the loop's clock is monotonic and may wake a little early)."""
    delay = (moment - datetime.now(UTC)).total_seconds()
    while delay > 0:
        await asyncio.sleep(delay)
        delay = (moment - datetime.now(UTC)).total_seconds()


def timer_request(scheduled: datetime, last: datetime | None, nxt: datetime) -> TimerRequest:
    """What the timer extension passes for an occurrence: past_due when it fires late, and the schedule status."""
    now = datetime.now(UTC)
    status = {
        "Last": (last or datetime.min.replace(tzinfo=UTC)).isoformat(),
        "Next": nxt.isoformat(),
        "LastUpdated": now.isoformat(),
    }
    return TimerRequest(
        past_due=now - scheduled > PAST_DUE_TOLERANCE, schedule_status=status, schedule={"AdjustForDST": True}
    )


async def run_schedule(schedule: Schedule, fire: Fire) -> None:
    """Call `fire` at each occurrence until cancelled; a late wake-up skips the occurrences it missed."""
    last: datetime | None = None
    base = datetime.now(UTC)
    while True:
        scheduled = schedule.next_after(base)
        await sleep_until(scheduled)
        await fire(timer_request(scheduled, last, schedule.next_after(scheduled)))
        last = scheduled
        base = max(scheduled, datetime.now(UTC))
