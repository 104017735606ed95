"""Timers and the events they fire. Pure: no I/O.

A timer is named after what it stands for (``"<voting id>:open"``), so scheduling the same
voting twice names the same timers. When it fires, its event is appended to the timer's
own stream at version 1: the event store's unique (stream, version) key is what makes a
timer fire once, whichever replica gets there and however often.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from contracts import Envelope, Message
from contracts.scheduler import VotingCloseTimeReached, VotingOpenTimeReached
from contracts.voting import VotingScheduled

TIMER_STREAM_PREFIX = "timer"


class TimerKind(StrEnum):
    OPEN = "open"
    CLOSE = "close"


def timer_id(voting_id: str, kind: TimerKind) -> str:
    return f"{voting_id}:{kind}"


@dataclass(frozen=True, slots=True)
class Timer:
    id: str
    voting_id: str
    kind: TimerKind
    due_at: datetime
    # What the timer emits when it fires, fixed when it is scheduled.
    event: Message
    # The conversation the timer belongs to: its event continues the one that set it.
    correlation_id: str
    causation_id: str | None

    @property
    def stream(self) -> str:
        return f"{TIMER_STREAM_PREFIX}-{self.id}"

    def is_due(self, now: datetime) -> bool:
        return self.due_at <= now

    def fired(self, now: datetime) -> Envelope:
        """The envelope of the event this timer emits when it fires at ``now``."""
        return Envelope.wrap(
            self.event,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
            occurred_at=now,
        )


def timers_for(event: VotingScheduled, envelope: Envelope) -> list[Timer]:
    """The timers a scheduled voting needs: one at its opening, one at its closing."""
    opens = VotingOpenTimeReached(voting_id=event.voting_id, due_at=event.opens_at)
    closes = VotingCloseTimeReached(voting_id=event.voting_id, due_at=event.closes_at)
    return [
        Timer(
            id=timer_id(event.voting_id, kind),
            voting_id=event.voting_id,
            kind=kind,
            due_at=due_at,
            event=fired,
            correlation_id=envelope.correlation_id,
            causation_id=envelope.message_id,
        )
        for kind, due_at, fired in (
            (TimerKind.OPEN, event.opens_at, opens),
            (TimerKind.CLOSE, event.closes_at, closes),
        )
    ]
