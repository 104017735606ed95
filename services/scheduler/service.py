"""The scheduler process: the service runtime plus the timer loop, started and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from eventing.clock import Clock, SystemClock
from eventing.service import ServiceRuntime
from services.scheduler.firing import TimerLoop
from services.scheduler.handlers import SchedulerHandlers
from services.scheduler.settings import SchedulerSettings
from services.scheduler.store import Timers
from services.scheduler.timetable import Timetable


class SchedulerService(ServiceRuntime):
    def __init__(
        self, settings: SchedulerSettings | None = None, clock: Clock | None = None
    ) -> None:
        settings = settings or SchedulerSettings()
        super().__init__("scheduler", settings)
        clock = clock or SystemClock()
        self.timers = Timers(self.db)
        self.timetable = Timetable(self.store, self.timers, clock, settings.leads)
        self.timer_loop = TimerLoop(
            self.timetable,
            self.timers,
            clock,
            tick=timedelta(seconds=settings.scheduler_tick_seconds),
            lease=timedelta(seconds=settings.scheduler_lease_seconds),
        )
        self.serve(events=SchedulerHandlers(self.timetable).events())
        self._loop_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.timers.ensure_indexes()
        await super().start()
        self._loop_task = asyncio.create_task(self.timer_loop.run(), name="scheduler-timers")

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        await super().stop()
