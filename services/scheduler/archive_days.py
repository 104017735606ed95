"""The days of the daily archive: which day a moment falls in, what a day is called, and
which days are due to be written. Pure: no I/O.

Days are counted from the Unix epoch in UTC, each ``length`` long: a calendar day, or
a few seconds when tests shorten it. The archive of a day is due ``written_after`` its
end: the time of day (00:15 by default) at which the day before is written, late enough
for the day's last events to have landed everywhere.

A day is named after its first moment, ``2030-05-17`` (a calendar day) or
``2030-05-17T180004Z`` (a shortened one): names sort as the days do, and are made of
characters that keep an ``_id`` range seekable on FerretDB (see eventing.store).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CALENDAR_DAY = timedelta(days=1)
_DATE = "%Y-%m-%d"
_MOMENT = "%Y-%m-%dT%H%M%SZ"


@dataclass(frozen=True, order=True, slots=True)
class ArchiveDay:
    starts_at: datetime
    ends_at: datetime

    @property
    def name(self) -> str:
        if self.ends_at - self.starts_at == CALENDAR_DAY:
            return self.starts_at.strftime(_DATE)
        return self.starts_at.strftime(_MOMENT)


@dataclass(frozen=True, slots=True)
class Calendar:
    length: timedelta
    written_after: timedelta

    def __post_init__(self) -> None:
        if self.length < timedelta(seconds=1) or self.length % timedelta(seconds=1):
            raise ValueError("a day lasts a whole number of seconds, at least one")
        if not timedelta(0) <= self.written_after < self.length:
            raise ValueError("a day's archive is written before the next day ends")

    @classmethod
    def of(cls, length: timedelta, time_of_day: time) -> Calendar:
        """Days of ``length``, each written at ``time_of_day`` (UTC) of the next."""
        after = timedelta(
            hours=time_of_day.hour,
            minutes=time_of_day.minute,
            seconds=time_of_day.second,
            microseconds=time_of_day.microsecond,
        )
        return cls(length, after)

    def day_of(self, moment: datetime) -> ArchiveDay:
        starts_at = EPOCH + (moment - EPOCH) // self.length * self.length
        return ArchiveDay(starts_at, starts_at + self.length)

    def day_of_date(self, day: date) -> ArchiveDay:
        """The day holding the first moment of ``day`` (UTC)."""
        return self.day_of(datetime.combine(day, time(), UTC))

    def following(self, day: ArchiveDay) -> ArchiveDay:
        return ArchiveDay(day.ends_at, day.ends_at + self.length)

    def due_at(self, day: ArchiveDay) -> datetime:
        return day.ends_at + self.written_after

    def due(self, first: ArchiveDay, now: datetime, limit: int) -> list[ArchiveDay]:
        """Up to ``limit`` days from ``first`` on whose archive is due by ``now``."""
        days: list[ArchiveDay] = []
        day = first
        while len(days) < limit and self.due_at(day) <= now:
            days.append(day)
            day = self.following(day)
        return days
