"""The scheduler's message handlers: a scheduled voting sets its timers."""

from __future__ import annotations

from collections.abc import Mapping

from contracts import Envelope, Message
from contracts.voting import VotingScheduled
from eventing.bus import EventHandler
from eventing.logs import get_logger
from services.scheduler.domain import timers_for
from services.scheduler.store import Timers

log = get_logger(__name__)


class SchedulerHandlers:
    def __init__(self, timers: Timers) -> None:
        self._timers = timers

    def events(self) -> Mapping[type[Message], EventHandler]:
        return {VotingScheduled: self.voting_scheduled}

    async def voting_scheduled(self, event: Message, envelope: Envelope) -> None:
        assert isinstance(event, VotingScheduled)
        # Insert-if-absent per timer id: a redelivered event finds its timers in place.
        for timer in timers_for(event, envelope):
            if await self._timers.schedule(timer):
                log.info(
                    "timer set",
                    timer_id=timer.id,
                    voting_id=timer.voting_id,
                    due_at=timer.due_at.isoformat(),
                )
