"""The scheduler's message handlers: a voting's schedule changes move its timers."""

from __future__ import annotations

from collections.abc import Mapping

from contracts import Envelope, Message
from eventing.bus import EventHandler
from services.scheduler.domain import SCHEDULE_EVENTS, ScheduleChange, ScheduleEvent
from services.scheduler.timetable import Timetable


class SchedulerHandlers:
    def __init__(self, timetable: Timetable) -> None:
        self._timetable = timetable

    def events(self) -> Mapping[type[Message], EventHandler]:
        return dict.fromkeys(SCHEDULE_EVENTS, self.schedule_changed)

    async def schedule_changed(self, event: Message, envelope: Envelope) -> None:
        # No message-id dedupe needed: applying a change is idempotent by its keys, and
        # the same change published twice under two message ids has one stream version.
        assert isinstance(event, ScheduleEvent)
        await self._timetable.apply(ScheduleChange.of(event, envelope))
