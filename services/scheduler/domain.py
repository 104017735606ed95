"""Schedule changes, the timers they call for, and the events timers emit. Pure: no I/O.

A voting's schedule is what its newest change says. Every change the scheduler hears of
(VotingScheduled, VotingRescheduled, VotingCancelled, VotingClosed) is recorded under the
voting stream's version it was appended at, so the newest one is known whatever order
they arrive in and however often: a change older than the newest is history, not news.

A timer is named after the voting, what it marks and the version of the change that set
it (``"<voting id>:open@<version>"``). A rescheduled voting therefore gets new timers
that fire once at their new times, while the old ones are dropped.

Each timer has its own stream, and the first event appended to it at version 1 settles
the timer for good: the time event when it fires, :class:`TimerDropped` when a newer
change makes it obsolete. The event store's unique (stream, version) key decides between
a replica firing a timer and another dropping it at the same moment, so a timer fires at
most once and never after it was dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from contracts import Envelope, Message
from contracts.scheduler import (
    VotingCloseTimeReached,
    VotingClosingSoon,
    VotingOpenTimeReached,
    VotingStartingSoon,
)
from contracts.voting import VotingCancelled, VotingClosed, VotingRescheduled, VotingScheduled

TIMER_STREAM_PREFIX = "timer"

# The events of a voting that change which timers it needs.
ScheduleEvent = VotingScheduled | VotingRescheduled | VotingCancelled | VotingClosed
SCHEDULE_EVENTS: tuple[type[Message], ...] = (
    VotingScheduled,
    VotingRescheduled,
    VotingCancelled,
    VotingClosed,
)


class TimerKind(StrEnum):
    OPEN = "open"
    CLOSE = "close"
    # Before the voting opens, for reminders; before it closes, for alerts.
    STARTING_SOON = "starting-soon"
    CLOSING_SOON = "closing-soon"


@dataclass(frozen=True, slots=True)
class LeadTimes:
    """How long before a voting opens its reminders go, and before it closes its alerts."""

    reminder: timedelta
    alert: timedelta


class TimerState(StrEnum):
    PENDING = "pending"
    FIRED = "fired"
    DROPPED = "dropped"


class TimerDropped(Message):
    """Private to the scheduler: the timer will never fire (its stream's only event)."""

    type = "scheduler.TimerDropped"

    timer_id: str
    voting_id: str
    # The voting's version whose change made the timer obsolete.
    superseded_by: int


class UnversionedChange(ValueError):
    """A schedule change without its voting stream's version cannot be ordered."""


def timer_id(voting_id: str, kind: TimerKind, version: int) -> str:
    return f"{voting_id}:{kind}@{version}"


def timer_stream(timer_id: str) -> str:
    return f"{TIMER_STREAM_PREFIX}-{timer_id}"


@dataclass(frozen=True, slots=True)
class Timer:
    id: str
    voting_id: str
    kind: TimerKind
    # The version of the voting's change that set this timer.
    version: int
    due_at: datetime
    # What the timer emits when it fires, fixed when it is set.
    event: Message
    # The conversation the timer belongs to: its event continues the one that set it.
    correlation_id: str
    causation_id: str | None

    @property
    def stream(self) -> str:
        return timer_stream(self.id)

    def fired(self, now: datetime) -> Envelope:
        """The envelope of the event this timer emits when it fires at ``now``."""
        return Envelope.wrap(
            self.event,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
            occurred_at=now,
        )

    def dropped(self, superseded_by: int, now: datetime) -> Envelope:
        """The envelope that settles this timer as never to fire."""
        return Envelope.wrap(
            TimerDropped(timer_id=self.id, voting_id=self.voting_id, superseded_by=superseded_by),
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
            occurred_at=now,
        )


@dataclass(frozen=True, slots=True)
class ScheduleChange:
    """One change of a voting's schedule, at the voting stream's version it was made."""

    voting_id: str
    version: int
    event: ScheduleEvent
    # The envelope that carried the change: timers it sets continue its conversation.
    correlation_id: str
    causation_id: str

    @property
    def id(self) -> str:
        return f"{self.voting_id}@{self.version}"

    @classmethod
    def of(cls, event: ScheduleEvent, envelope: Envelope) -> ScheduleChange:
        if envelope.version is None:
            raise UnversionedChange(
                f"{envelope.type} {envelope.message_id} carries no stream version"
            )
        return cls(
            voting_id=event.voting_id,
            version=envelope.version,
            event=event,
            correlation_id=envelope.correlation_id,
            causation_id=envelope.message_id,
        )

    def timers(self, leads: LeadTimes) -> list[Timer]:
        """The timers this change calls for when it is the voting's newest."""
        if not isinstance(self.event, VotingScheduled | VotingRescheduled):
            return []  # cancelled or closed: nothing more is to happen on time
        opens_at, closes_at = self.event.opens_at, self.event.closes_at
        starting_soon, closing_soon = opens_at - leads.reminder, closes_at - leads.alert
        fired: list[tuple[TimerKind, datetime, Message]] = [
            (
                TimerKind.STARTING_SOON,
                starting_soon,
                VotingStartingSoon(
                    voting_id=self.voting_id, opens_at=opens_at, due_at=starting_soon
                ),
            ),
            (
                TimerKind.CLOSING_SOON,
                closing_soon,
                VotingClosingSoon(
                    voting_id=self.voting_id, closes_at=closes_at, due_at=closing_soon
                ),
            ),
            (
                TimerKind.OPEN,
                opens_at,
                VotingOpenTimeReached(voting_id=self.voting_id, due_at=opens_at),
            ),
            (
                TimerKind.CLOSE,
                closes_at,
                VotingCloseTimeReached(voting_id=self.voting_id, due_at=closes_at),
            ),
        ]
        return [
            Timer(
                id=timer_id(self.voting_id, kind, self.version),
                voting_id=self.voting_id,
                kind=kind,
                version=self.version,
                due_at=due_at,
                event=event,
                correlation_id=self.correlation_id,
                causation_id=self.causation_id,
            )
            for kind, due_at, event in fired
        ]


@dataclass(frozen=True, slots=True)
class Plan:
    """What a voting's known changes call for."""

    # The newest version known: a pending timer set by an older change is obsolete.
    latest: int
    timers: list[Timer]


def plan(changes: Iterable[ScheduleChange], leads: LeadTimes) -> Plan:
    """The timers a voting needs, decided by its newest known change alone."""
    newest = max(changes, key=lambda change: change.version, default=None)
    if newest is None:
        return Plan(latest=0, timers=[])
    return Plan(latest=newest.version, timers=newest.timers(leads))


def too_late(timer: Timer, now: datetime) -> bool:
    """A reminder once its voting has opened, an alert once it has closed: firing late
    would tell the user something no longer true, so the timer is dropped instead."""
    event = timer.event
    if isinstance(event, VotingStartingSoon):
        return now >= event.opens_at
    if isinstance(event, VotingClosingSoon):
        return now >= event.closes_at
    return False
