"""Keeps a voting's timers in line with its schedule: sets, drops and fires them.

Changes of one voting may be handled at the same moment (two replicas, a redelivery
racing the original) and FerretDB has no atomic conditional update, so no step here
relies on one. Each handler records its change, sets the timers the newest change it
read calls for, then reads the changes again and drops every pending timer older than
the newest. Of two changes handled at once, each is recorded before the other's second
read, so at least one handler sees both and drops what the older one set; a handler
never drops a timer newer than the changes it has seen.

Whether a timer fires or is dropped is decided in its stream (see ``domain``): firing
and dropping both append at version 1, and the one that loses finds out which happened.
"""

from __future__ import annotations

from contracts import Envelope
from eventing.clock import Clock
from eventing.logs import correlation, get_logger
from eventing.metrics import TIMER_LATENESS
from eventing.store import ConcurrencyConflict, EventStore
from services.scheduler.domain import (
    LeadTimes,
    ScheduleChange,
    Timer,
    TimerDropped,
    TimerState,
    plan,
    too_late,
)
from services.scheduler.store import Timers

log = get_logger(__name__)


class Timetable:
    def __init__(self, store: EventStore, timers: Timers, clock: Clock, leads: LeadTimes) -> None:
        self._store = store
        self._timers = timers
        self._clock = clock
        self._leads = leads

    async def apply(self, change: ScheduleChange) -> None:
        """Make the voting's timers follow its newest known change (idempotent)."""
        if not await self._timers.record(change):
            log.info("schedule change known already", voting_id=change.voting_id)
        wanted = plan(await self._timers.changes_of(change.voting_id), self._leads)
        for timer in wanted.timers:
            if await self._timers.schedule(timer):
                log.info(
                    "timer set",
                    timer_id=timer.id,
                    voting_id=timer.voting_id,
                    due_at=timer.due_at.isoformat(),
                )
        # Read again after writing: see the module's docstring for why this closes the race.
        changes = await self._timers.changes_of(change.voting_id)
        current = plan(changes, self._leads)
        older = [known for known in changes if known.version < current.latest]
        for timer in await self._timers.pending_set_by(older):
            await self.drop(timer, superseded_by=current.latest)

    async def fire(self, timer: Timer) -> bool:
        """Emit the timer's event unless its stream is settled, or it is too late for it
        (it is dropped then); True when emitted now."""
        now = self._clock.now()
        if too_late(timer, now):
            with correlation(timer.correlation_id, timer_id=timer.id):
                if await self._settle(timer, timer.dropped(timer.version, now), TimerState.DROPPED):
                    log.warning(
                        "timer skipped: too late to be of use",
                        voting_id=timer.voting_id,
                        event_type=timer.event.type,
                        due_at=timer.due_at.isoformat(),
                        late_seconds=round((now - timer.due_at).total_seconds(), 3),
                    )
            return False
        with correlation(timer.correlation_id, timer_id=timer.id):
            emitted = await self._settle(timer, timer.fired(now), TimerState.FIRED)
            if emitted:
                TIMER_LATENESS.labels(timer.event.type).observe(
                    max((now - timer.due_at).total_seconds(), 0.0)
                )
                log.info(
                    "timer fired",
                    voting_id=timer.voting_id,
                    event_type=timer.event.type,
                    due_at=timer.due_at.isoformat(),
                    late_seconds=round((now - timer.due_at).total_seconds(), 3),
                )
            else:
                log.info("timer was settled already", voting_id=timer.voting_id)
        return emitted

    async def drop(self, timer: Timer, *, superseded_by: int) -> bool:
        """Settle the timer as never to fire; False when it was settled already."""
        now = self._clock.now()
        with correlation(timer.correlation_id, timer_id=timer.id):
            dropped = await self._settle(
                timer, timer.dropped(superseded_by, now), TimerState.DROPPED
            )
            if dropped:
                log.info("timer dropped", voting_id=timer.voting_id, superseded_by=superseded_by)
            elif await self._settled_state(timer) is TimerState.FIRED:
                # The change came too late for it: the voting service had its time event.
                log.warning(
                    "an obsolete timer had fired already",
                    voting_id=timer.voting_id,
                    superseded_by=superseded_by,
                )
        return dropped

    async def _settle(self, timer: Timer, first: Envelope, state: TimerState) -> bool:
        """Append ``first`` as the timer stream's only event; False when it was settled
        before (by whichever event got there first, which the timer's state then copies)."""
        try:
            await self._store.append(timer.stream, 0, [first])
            appended = True
        except ConcurrencyConflict:
            appended = False
            state = await self._settled_state(timer)
        await self._timers.settle(timer.id, state, self._clock.now())
        return appended

    async def _settled_state(self, timer: Timer) -> TimerState:
        events = await self._store.read(timer.stream)
        if events and events[0].type == TimerDropped.type:
            return TimerState.DROPPED
        return TimerState.FIRED
