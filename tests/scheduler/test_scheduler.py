"""The scheduler on a real broker and store: timers fire on time, once, and after downtime.

A stand-in for the voting service publishes VotingScheduled and records the time events
it receives, as the voting service would. Time is a FixedClock the tests move.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest

from contracts import Envelope, Message
from contracts.scheduler import VotingCloseTimeReached, VotingOpenTimeReached
from contracts.voting import VotingOption, VotingScheduled
from eventing.clock import FixedClock
from eventing.service import ServiceRuntime
from eventing.settings import RuntimeSettings
from services.scheduler.domain import TimerKind, timer_id
from services.scheduler.firing import TimerLoop
from services.scheduler.service import SchedulerService
from services.scheduler.settings import SchedulerSettings
from tests.support import eventually

T0 = datetime(2030, 5, 17, 18, 0, tzinfo=UTC)
OPEN = VotingOpenTimeReached.type
CLOSE = VotingCloseTimeReached.type
# Long enough for several ticks of the timer loop to have happened.
QUIET = 0.4


class VotingStandIn:
    """Publishes schedules and records the time events the voting service would receive."""

    def __init__(self, settings: RuntimeSettings) -> None:
        self.runtime = ServiceRuntime("voting", settings)
        self.received: list[Envelope] = []
        self.runtime.serve(
            events={VotingOpenTimeReached: self._record, VotingCloseTimeReached: self._record}
        )

    async def _record(self, _: Message, envelope: Envelope) -> None:
        self.received.append(envelope)

    async def schedule(self, voting_id: str, opens_at: datetime, closes_at: datetime) -> Envelope:
        envelope = Envelope.wrap(
            VotingScheduled(
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
        )
        await self.runtime.bus.publish_event(envelope)
        return envelope

    def seen(self) -> Counter[tuple[str, str]]:
        """How many distinct events of each (type, voting) arrived."""
        distinct = {e.message_id: e for e in self.received}.values()
        return Counter((e.type, e.payload["voting_id"]) for e in distinct)

    def has(self, expected: dict[tuple[str, str], int]) -> bool:
        return self.seen() == Counter(expected)


@asynccontextmanager
async def running(runtime: ServiceRuntime) -> AsyncIterator[ServiceRuntime]:
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


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


async def _probe(condition: object) -> object:
    return condition


async def timers_stored(scheduler: SchedulerService, voting_id: str, count: int = 2) -> None:
    async def probe() -> bool:
        return len(await scheduler.timers.of_voting(voting_id)) == count

    await eventually(probe)


async def test_open_and_close_fire_when_their_times_come(
    scheduler_settings: SchedulerSettings, clock: FixedClock, voting: VotingStandIn
) -> None:
    opens_at, closes_at = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
    async with running(SchedulerService(scheduler_settings, clock)) as scheduler:
        assert isinstance(scheduler, SchedulerService)
        scheduled = await voting.schedule("v1", opens_at, closes_at)
        await timers_stored(scheduler, "v1")

        clock.advance(timedelta(seconds=59.9))
        await asyncio.sleep(QUIET)
        assert voting.received == []

        clock.advance(timedelta(seconds=0.1))
        await eventually(lambda: _probe(voting.has({(OPEN, "v1"): 1})))
        opened = voting.received[0]
        assert opened.message() == VotingOpenTimeReached(voting_id="v1", due_at=opens_at)
        assert opened.occurred_at == opens_at
        # The time event continues the conversation that scheduled the voting.
        assert opened.correlation_id == scheduled.correlation_id
        assert opened.causation_id == scheduled.message_id

        await asyncio.sleep(QUIET)
        assert voting.has({(OPEN, "v1"): 1})

        clock.advance(timedelta(minutes=1))
        await eventually(lambda: _probe(voting.has({(OPEN, "v1"): 1, (CLOSE, "v1"): 1})))
        closed = voting.received[-1]
        assert closed.message() == VotingCloseTimeReached(voting_id="v1", due_at=closes_at)

        await asyncio.sleep(QUIET)
        assert len(voting.received) == 2
        assert all(t["fired"] for t in await scheduler.timers.of_voting("v1"))


async def test_two_schedulers_racing_fire_every_timer_once(
    scheduler_settings: SchedulerSettings, clock: FixedClock, voting: VotingStandIn
) -> None:
    votings = [f"v{n}" for n in range(12)]
    async with (
        running(SchedulerService(scheduler_settings, clock)) as first,
        running(SchedulerService(scheduler_settings, clock)) as second,
    ):
        assert isinstance(first, SchedulerService) and isinstance(second, SchedulerService)
        for voting_id in votings:
            await voting.schedule(voting_id, T0 + timedelta(seconds=10), T0 + timedelta(seconds=20))
        for voting_id in votings:
            await timers_stored(first, voting_id)

        # Everything falls due at once; both replicas' loops, and extra rounds started
        # here on each of them, all go for the same timers.
        clock.advance(timedelta(seconds=30))
        await asyncio.gather(
            *(loop.fire_due() for loop in (first.timer_loop, second.timer_loop) * 3)
        )

        expected = {(kind, v): 1 for v in votings for kind in (OPEN, CLOSE)}
        await eventually(lambda: _probe(voting.has(expected)))
        await asyncio.sleep(QUIET)
        assert voting.has(expected)
        assert len(voting.received) == len(expected)
        for voting_id in votings:
            for kind in TimerKind:
                stream = f"timer-{timer_id(voting_id, kind)}"
                assert len(await first.store.read(stream)) == 1


async def test_a_timer_whose_lease_ran_out_mid_fire_is_not_fired_again(
    scheduler_settings: SchedulerSettings, clock: FixedClock, voting: VotingStandIn
) -> None:
    # The service's own loop stays out of the way; two loops are driven step by step.
    quiet_settings = scheduler_settings.model_copy(update={"scheduler_tick_seconds": 3600})
    async with running(SchedulerService(quiet_settings, clock)) as scheduler:
        assert isinstance(scheduler, SchedulerService)
        await voting.schedule("v1", T0, T0 + timedelta(hours=1))
        await timers_stored(scheduler, "v1")

        def replica() -> TimerLoop:
            return TimerLoop(
                scheduler.store,
                scheduler.timers,
                clock,
                tick=timedelta(seconds=1),
                lease=timedelta(seconds=5),
            )

        slow, other = replica(), replica()
        claimed = await slow.claim()
        assert claimed is not None and claimed.id == timer_id("v1", TimerKind.OPEN)
        assert await other.claim() is None  # leased to the slow replica

        clock.advance(timedelta(seconds=6))  # the slow replica stalls past its lease
        taken_over = await other.claim()
        assert taken_over is not None and taken_over.id == claimed.id
        assert await other.fire(taken_over) is True
        assert await slow.fire(claimed) is False

        await eventually(lambda: _probe(voting.has({(OPEN, "v1"): 1})))
        await asyncio.sleep(QUIET)
        assert len(voting.received) == 1
        assert len(await scheduler.store.read(f"timer-{claimed.id}")) == 1


async def test_timers_missed_during_downtime_fire_at_once_on_start(
    scheduler_settings: SchedulerSettings, clock: FixedClock, voting: VotingStandIn
) -> None:
    async with running(SchedulerService(scheduler_settings, clock)) as scheduler:
        assert isinstance(scheduler, SchedulerService)
        await voting.schedule("v1", T0 + timedelta(minutes=1), T0 + timedelta(minutes=2))
        await timers_stored(scheduler, "v1")

    # While no scheduler runs, both of v1's times pass and v2 is scheduled in the past.
    clock.advance(timedelta(hours=1))
    await voting.schedule("v2", T0 + timedelta(minutes=5), T0 + timedelta(minutes=10))
    await asyncio.sleep(QUIET)
    assert voting.received == []

    async with running(SchedulerService(scheduler_settings, clock)):
        expected = {(kind, v): 1 for v in ("v1", "v2") for kind in (OPEN, CLOSE)}
        await eventually(lambda: _probe(voting.has(expected)), timeout=5)
    late = {(e.type, e.payload["voting_id"]): e for e in voting.received}
    assert late[(OPEN, "v1")].message() == VotingOpenTimeReached(
        voting_id="v1", due_at=T0 + timedelta(minutes=1)
    )
    assert late[(OPEN, "v1")].occurred_at == T0 + timedelta(hours=1)


async def test_a_redelivered_schedule_neither_duplicates_timers_nor_fires_them_again(
    scheduler_settings: SchedulerSettings, clock: FixedClock, voting: VotingStandIn
) -> None:
    async with running(SchedulerService(scheduler_settings, clock)) as scheduler:
        assert isinstance(scheduler, SchedulerService)
        opens_at, closes_at = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
        scheduled = await voting.schedule("v1", opens_at, closes_at)
        for _ in range(3):
            await scheduler.bus.publish_event(scheduled)
        # The same schedule published again under a new message id.
        await voting.schedule("v1", opens_at, closes_at)
        # Consumed in order: once the marker's timers exist, every copy above was handled.
        await voting.schedule("marker", opens_at, closes_at)
        await timers_stored(scheduler, "marker")
        assert [t["_id"] for t in await scheduler.timers.of_voting("v1")] == [
            "v1:open",
            "v1:close",
        ]

        clock.advance(timedelta(minutes=1))
        await eventually(lambda: _probe(voting.seen()[(OPEN, "v1")] == 1))

        # Delivered again after the open timer fired: it must not fire a second time.
        await scheduler.bus.publish_event(scheduled)
        await voting.schedule("marker-2", opens_at, closes_at)
        await timers_stored(scheduler, "marker-2")
        await asyncio.sleep(QUIET)
        assert voting.seen()[(OPEN, "v1")] == 1
        open_timer, close_timer = await scheduler.timers.of_voting("v1")
        assert open_timer["fired"] and not close_timer["fired"]

        clock.advance(timedelta(minutes=1))
        await eventually(lambda: _probe(voting.seen()[(CLOSE, "v1")] == 1))
        await asyncio.sleep(QUIET)
        assert voting.seen()[(OPEN, "v1")] == 1 and voting.seen()[(CLOSE, "v1")] == 1
