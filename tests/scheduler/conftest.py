"""The scheduler's tests run it on a real broker and store, next to a voting stand-in.

The stand-in publishes a voting's schedule changes as the voting service would (each at
its voting stream's version) and records the time events it receives. Time is a
FixedClock the tests move.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest

from contracts import Envelope, Message
from contracts.scheduler import VotingCloseTimeReached, VotingOpenTimeReached
from contracts.voting import (
    VotingCancelled,
    VotingClosed,
    VotingOption,
    VotingRescheduled,
    VotingScheduled,
)
from eventing.clock import FixedClock
from eventing.service import ServiceRuntime
from eventing.settings import RuntimeSettings
from services.scheduler.domain import ScheduleChange, Timer, TimerKind, TimerState
from services.scheduler.firing import TimerLoop
from services.scheduler.service import SchedulerService
from services.scheduler.settings import SchedulerSettings
from tests.support import Rounds, eventually

T0 = datetime(2030, 5, 17, 18, 0, tzinfo=UTC)
OPEN = VotingOpenTimeReached.type
CLOSE = VotingCloseTimeReached.type


class VotingStandIn:
    """Publishes schedule changes and records the time events the voting service would get."""

    def __init__(self, settings: RuntimeSettings) -> None:
        self.runtime = ServiceRuntime("voting", settings)
        self.received: list[Envelope] = []
        self.published = 0
        self.runtime.serve(
            events={VotingOpenTimeReached: self._record, VotingCloseTimeReached: self._record},
            stand_in=True,
        )

    async def _record(self, _: Message, envelope: Envelope) -> None:
        self.received.append(envelope)

    async def publish(self, envelope: Envelope) -> Envelope:
        await self.runtime.bus.publish_event(envelope)
        self.published += 1
        return envelope

    @staticmethod
    def at_version(voting_id: str, version: int, event: Message) -> Envelope:
        """The event as the voting service publishes it: appended to the voting's stream."""
        return Envelope.wrap(event).model_copy(
            update={"stream": f"voting-{voting_id}", "version": version}
        )

    async def schedule(
        self, voting_id: str, opens_at: datetime, closes_at: datetime, version: int = 1
    ) -> Envelope:
        event = VotingScheduled(
            voting_id=voting_id,
            title=f"Voting {voting_id}",
            description="",
            kind="free",
            cost=0,
            options=[VotingOption(id="a", label="A"), VotingOption(id="b", label="B")],
            opens_at=opens_at,
            closes_at=closes_at,
            scheduled_by="admin",
        )
        return await self.publish(self.at_version(voting_id, version, event))

    async def reschedule(
        self, voting_id: str, version: int, opens_at: datetime, closes_at: datetime
    ) -> Envelope:
        event = VotingRescheduled(voting_id=voting_id, opens_at=opens_at, closes_at=closes_at)
        return await self.publish(self.at_version(voting_id, version, event))

    async def cancel(self, voting_id: str, version: int, at: datetime = T0) -> Envelope:
        event = VotingCancelled(voting_id=voting_id, cancelled_at=at)
        return await self.publish(self.at_version(voting_id, version, event))

    async def close(self, voting_id: str, version: int, at: datetime = T0) -> Envelope:
        event = VotingClosed(voting_id=voting_id, closed_at=at)
        return await self.publish(self.at_version(voting_id, version, event))

    def seen(self) -> Counter[tuple[str, str]]:
        """How many distinct events of each (type, voting) arrived."""
        distinct = {e.message_id: e for e in self.received}.values()
        return Counter((e.type, e.payload["voting_id"]) for e in distinct)

    def has(self, expected: dict[tuple[str, str], int]) -> bool:
        return self.seen() == Counter(expected)

    def of(self, event_type: str, voting_id: str) -> list[Envelope]:
        return [
            e for e in self.received if e.type == event_type and e.payload["voting_id"] == voting_id
        ]


@asynccontextmanager
async def running(runtime: ServiceRuntime) -> AsyncIterator[ServiceRuntime]:
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


# The timers of a voting's own window; the lead-time ones (reminders, alerts) are
# tested on their own.
WINDOW = (TimerKind.OPEN, TimerKind.CLOSE)


async def timer_states(
    scheduler: SchedulerService, voting_id: str, kinds: tuple[TimerKind, ...] = WINDOW
) -> dict[str, str]:
    """Each of the voting's timers of these kinds by id, with its state."""
    timers = await scheduler.timers.of_voting(voting_id)
    return {t["_id"]: t["state"] for t in timers if t["kind"] in kinds}


async def pending(
    scheduler: SchedulerService, voting_id: str, kinds: tuple[TimerKind, ...] = WINDOW
) -> set[str]:
    states = await timer_states(scheduler, voting_id, kinds)
    return {timer for timer, state in states.items() if state == TimerState.PENDING}


async def claim_window_timer(loop: TimerLoop) -> Timer | None:
    """The next due timer of a voting's window claimed by ``loop``; the lead-time timers
    due before it are fired on the way."""
    while (timer := await loop.claim()) is not None and timer.kind not in WINDOW:
        await loop.fire(timer)
    return timer


async def timers_stored(scheduler: SchedulerService, voting_id: str, count: int = 4) -> None:
    """Until the voting's timers (open, close, and the two lead-time ones) are stored."""

    async def stored() -> bool:
        return len(await scheduler.timers.of_voting(voting_id)) == count

    await eventually(stored)


class CountingScheduler(SchedulerService):
    """The scheduler service, counting the schedule changes it has finished handling and
    the rounds of its timer loop."""

    def __init__(self, settings: SchedulerSettings, clock: FixedClock) -> None:
        super().__init__(settings, clock)
        self.handled = 0
        self.running = False
        apply = self.timetable.apply

        async def counted(change: ScheduleChange) -> None:
            await apply(change)
            self.handled += 1

        # The handlers look the method up on every message, so they call this one.
        setattr(self.timetable, "apply", counted)  # noqa: B010
        # So does the timer loop, every tick.
        self.rounds = Rounds(self.timer_loop, "fire_due")

    async def start(self) -> None:
        await super().start()
        self.running = True

    async def stop(self) -> None:
        self.running = False
        await super().stop()


async def handled_so_far(scheduler: CountingScheduler, voting: VotingStandIn) -> None:
    """Until the scheduler has handled as many changes as the stand-in published.

    Counting, not a marker message: the broker delivers up to the prefetch at once, so
    changes may be handled in any order.
    """
    published = voting.published

    async def caught_up() -> bool:
        return scheduler.handled >= published

    await eventually(caught_up)


async def stream_types(scheduler: SchedulerService, stream: str) -> list[str]:
    return [event.type for event in await scheduler.store.read(stream)]


async def settled(voting: VotingStandIn, *schedulers: SchedulerService) -> None:
    """Until nothing more can come of what has happened so far: the timer loop of every
    running CountingScheduler has gone over the due timers once more (a round begun
    now), everything the schedulers appended is published, and the voting stand-in has
    received every time event they published.

    A timer that fired, or fired again, by then has its time event in the store, so it
    is in ``voting.received`` when this returns. The loops of the plain SchedulerServices
    of these tests tick once an hour: the test fires their timers itself.
    """
    for scheduler in schedulers:
        if isinstance(scheduler, CountingScheduler) and scheduler.running:
            await scheduler.rounds.one_begun_now()
    store = schedulers[0].store  # the replicas share one database

    async def published() -> bool:
        return await store.unpublished(1) == []

    await eventually(published)
    emitted = {
        event.message_id
        async for commit in store.replay()
        for event in commit.events
        if event.type in (OPEN, CLOSE)
    }
    await eventually(lambda: emitted <= {e.message_id for e in voting.received})


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def scheduler_settings(settings: RuntimeSettings) -> SchedulerSettings:
    return SchedulerSettings(
        **settings.model_dump(), scheduler_tick_seconds=0.05, scheduler_lease_seconds=5
    )


@pytest.fixture
async def voting(settings: RuntimeSettings) -> AsyncIterator[VotingStandIn]:
    stand_in = VotingStandIn(settings)
    async with running(stand_in.runtime):
        yield stand_in


@pytest.fixture
async def scheduler(
    scheduler_settings: SchedulerSettings, clock: FixedClock
) -> AsyncIterator[CountingScheduler]:
    service = CountingScheduler(scheduler_settings, clock)
    async with running(service):
        yield service
