"""Business time: every rule reads an injected clock, never the wall clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

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
