"""The scheduler process: the service runtime plus the timer loop and the daily archive's
loop, started and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from eventing.clock import Clock, SystemClock
from eventing.relay import Lease
from eventing.service import ServiceRuntime
from services.scheduler.archive_store import ArchiveStore
from services.scheduler.archiving import ArchiveLoop, ArchiveWriter
from services.scheduler.firing import TimerLoop
from services.scheduler.handlers import ArchiveQueries, SchedulerHandlers
from services.scheduler.settings import SchedulerSettings
from services.scheduler.store import Timers
from services.scheduler.timetable import Timetable

ARCHIVE_LEASE = "archive-writer"


class SchedulerService(ServiceRuntime):
    def __init__(
        self, settings: SchedulerSettings | None = None, clock: Clock | None = None
    ) -> None:
        settings = settings or SchedulerSettings()
        super().__init__("scheduler", settings)
        clock = clock or SystemClock()
        tick = timedelta(seconds=settings.scheduler_tick_seconds)
        self.timers = Timers(self.db)
        self.timetable = Timetable(self.store, self.timers, clock, settings.leads)
        self.timer_loop = TimerLoop(
            self.timetable,
            self.timers,
            clock,
            tick=tick,
            lease=timedelta(seconds=settings.scheduler_lease_seconds),
        )
        self.archive = ArchiveStore(self.db)
        lease = Lease(self.db, ARCHIVE_LEASE, timedelta(seconds=settings.archive_lease_seconds))
        self.archive_loop = ArchiveLoop(
            ArchiveWriter(self.archive, self.bus, clock, lease.acquire),
            self.archive,
            settings.calendar,
            clock,
            lease,
            first_day=settings.archive_first_day,
            tick=tick,
        )
        self.serve(
            commands=ArchiveQueries(self.archive).commands(),
            events=SchedulerHandlers(self.timetable).events(),
        )
        self._loops: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.timers.ensure_indexes()
        await super().start()
        self._loops = [
            asyncio.create_task(self.timer_loop.run(), name="scheduler-timers"),
            asyncio.create_task(self.archive_loop.run(), name="scheduler-archive"),
        ]

    async def stop(self) -> None:
        for loop in self._loops:
            loop.cancel()
        for loop in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        await super().stop()
