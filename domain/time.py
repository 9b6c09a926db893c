"""Business time: every rule reads an injected clock, never the wall clock.

The calendar arithmetic of the aggregates lives here too: local dates and day bounds
in an account's timezone, monthly due dates and charge dates."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from payledger.domain.errors import ValidationError

DEFAULT_TIMEZONE = "America/Sao_Paulo"


class Clock(Protocol):
    """Gives the business instant of a command that did not bring its own."""

    def now(self) -> datetime: ...


class SystemClock:
    """The host's real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class SimulatedClock:
    """A clock the demo and the tests move by hand."""

    def __init__(self, start: datetime) -> None:
        self._now = aware(start, "start")

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValidationError("delta", "a clock never goes back")
        self._now += delta
        return self._now

    def set(self, instant: datetime) -> None:
        instant = aware(instant, "instant")
        if instant < self._now:
            raise ValidationError("instant", "a clock never goes back")
        self._now = instant


def timezone_name(value: str) -> str:
    """`value` if it names an IANA timezone this machine knows ("America/New_York")."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError("timezone", f"unknown timezone {value!r}") from None
    return value


def aware(instant: datetime, field: str) -> datetime:
    """Return `instant` in UTC, refusing naive datetimes."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValidationError(field, "must be timezone-aware")
    return instant.astimezone(UTC)


def local_date_end(day: datetime, tz: str = DEFAULT_TIMEZONE) -> datetime:
    """The last instant of `day`'s calendar date in `tz`, as UTC (a due date's end)."""
    zone = ZoneInfo(tz)
    local = day.astimezone(zone)
    end = datetime(local.year, local.month, local.day, tzinfo=zone) + timedelta(days=1)
    return (end - timedelta(microseconds=1)).astimezone(UTC)


def local_date(instant: datetime, tz: str) -> date:
    """`instant`'s calendar date in `tz`."""
    return instant.astimezone(ZoneInfo(tz)).date()


def day_start(day: date, tz: str) -> datetime:
    """The first instant of calendar day `day` in `tz`, as UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def due_dates(first: date, count: int) -> list[date]:
    """`count` monthly dates on `first`'s day of the month, clamped to each month's end."""
    dates = []
    for months in range(count):
        year, month = divmod(first.month - 1 + months, 12)
        year, month = first.year + year, month + 1
        dates.append(date(year, month, min(first.day, calendar.monthrange(year, month)[1])))
    return dates


def local_instant(day: date, clock: time, tz: str) -> datetime:
    """Wall-clock `clock` on calendar day `day` in `tz`, as UTC.

    A time a daylight-saving change skips (02:30 on the night clocks jump from 02:00 to
    03:00) becomes the first valid instant after the gap (03:00); a time that occurs
    twice (clocks set back) is its first occurrence.
    """
    zone = ZoneInfo(tz)
    wall = datetime.combine(day, clock.replace(tzinfo=None), tzinfo=zone)
    if wall.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall.replace(tzinfo=None):
        return wall.astimezone(UTC)
    later = wall.replace(second=0, microsecond=0)
    while later.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != \
            later.replace(tzinfo=None):
        later += timedelta(minutes=1)  # transitions fall on whole minutes
    return later.astimezone(UTC)


def wall_clock(instant: datetime, tz: str) -> str:
    """`instant`'s local time of day in `tz`, as ISO text ("02:30:00")."""
    return instant.astimezone(ZoneInfo(tz)).time().isoformat()


def _clock(time_of: datetime | str | None, default: datetime, tz: str) -> time:
    if isinstance(time_of, str):
        return time.fromisoformat(time_of)
    return (time_of or default).astimezone(ZoneInfo(tz)).time()


def charge_date(month_of: datetime, months: int, day: int, tz: str,
                time_of: datetime | str | None = None) -> datetime:
    """`day` of the month `months` after `month_of`'s (clamped to the month's end), local.

    The local time of day is `time_of`'s (an instant's, or a `wall_clock` text; default
    `month_of`'s), kept across daylight-saving changes (`local_instant`); the result is
    UTC.
    """
    local = month_of.astimezone(ZoneInfo(tz))
    year, month = divmod(local.year * 12 + local.month - 1 + months, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return local_instant(date(year, month + 1, min(day, last)), _clock(time_of, month_of, tz),
                         tz)


def next_charge_date(after: datetime, day: int, tz: str,
                     time_of: datetime | str) -> datetime:
    """The first `day` of a month (at `time_of`'s local time) strictly after `after`."""
    candidate = charge_date(after, 0, day, tz, time_of)
    return candidate if candidate > after else charge_date(after, 1, day, tz, time_of)


def add_local_days(instant: datetime, days: int, tz: str) -> datetime:
    """`days` calendar days after `instant` at the same local time of day (a trial's
    end): across a daylight-saving change that is not `days` x 24 hours."""
    local = instant.astimezone(ZoneInfo(tz))
    return local_instant(local.date() + timedelta(days=days), local.time(), tz)


def add_business_days(start: datetime, days: int, tz: str = DEFAULT_TIMEZONE) -> datetime:
    """`start` moved `days` weekdays later (weekends skipped; holidays not modelled)."""
    zone = ZoneInfo(tz)
    local = start.astimezone(zone)
    while days > 0:
        local += timedelta(days=1)
        if local.weekday() < 5:
            days -= 1
    return local.astimezone(UTC)


@dataclass(frozen=True)
class TimePolicy:
    """The configurable durations that aggregates need to say when something falls due."""

    abandon_window: timedelta = timedelta(hours=1)
