"""The scheduler on a real broker and store: timers fire on time, once, and after downtime."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from contracts.scheduler import VotingCloseTimeReached, VotingOpenTimeReached
from eventing.clock import FixedClock
from services.scheduler.domain import TimerKind, TimerState, timer_id, timer_stream
from services.scheduler.firing import TimerLoop
from services.scheduler.service import SchedulerService
from services.scheduler.settings import SchedulerSettings
from tests.scheduler.conftest import (
    CLOSE,
    OPEN,
    T0,
    CountingScheduler,
    VotingStandIn,
    claim_window_timer,
    handled_so_far,
    running,
    settled,
    timer_states,
    timers_stored,
)
from tests.support import eventually


async def test_open_and_close_fire_when_their_times_come(
    scheduler: CountingScheduler, clock: FixedClock, voting: VotingStandIn
) -> None:
    opens_at, closes_at = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
    scheduled = await voting.schedule("v1", opens_at, closes_at)
    await timers_stored(scheduler, "v1")

    clock.advance(timedelta(seconds=59.9))
    await settled(voting, scheduler)
    assert voting.received == []

    clock.advance(timedelta(seconds=0.1))
    await eventually(lambda: voting.has({(OPEN, "v1"): 1}))
    opened = voting.received[0]
    assert opened.message() == VotingOpenTimeReached(voting_id="v1", due_at=opens_at)
    assert opened.occurred_at == opens_at
    # The time event continues the conversation that scheduled the voting.
    assert opened.correlation_id == scheduled.correlation_id
    assert opened.causation_id == scheduled.message_id

    await settled(voting, scheduler)
    assert voting.has({(OPEN, "v1"): 1})

    clock.advance(timedelta(minutes=1))
    await eventually(lambda: voting.has({(OPEN, "v1"): 1, (CLOSE, "v1"): 1}))
    closed = voting.received[-1]
    assert closed.message() == VotingCloseTimeReached(voting_id="v1", due_at=closes_at)

    await settled(voting, scheduler)
    assert len(voting.received) == 2
    assert await timer_states(scheduler, "v1") == {
        "v1:open@1": TimerState.FIRED,
        "v1:close@1": TimerState.FIRED,
    }


async def test_two_schedulers_racing_fire_every_timer_once(
    scheduler_settings: SchedulerSettings, clock: FixedClock, voting: VotingStandIn
) -> None:
    votings = [f"v{n}" for n in range(12)]
    async with (
        running(CountingScheduler(scheduler_settings, clock)) as first,
        running(CountingScheduler(scheduler_settings, clock)) as second,
    ):
        assert isinstance(first, CountingScheduler) and isinstance(second, CountingScheduler)
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
        await eventually(lambda: voting.has(expected))
        await settled(voting, first, second)
        # One event per timer (has() counts distinct messages): a message may still
        # arrive twice, as the relay publishes at least once (another replica's sweep can
        # overlap a publish slower than the grace), and consumers deduplicate it.
        assert voting.has(expected)
        for voting_id in votings:
            for kind in TimerKind:
                stream = timer_stream(timer_id(voting_id, kind, 1))
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
                scheduler.timetable,
                scheduler.timers,
                clock,
                tick=timedelta(seconds=1),
                lease=timedelta(seconds=5),
            )

        slow, other = replica(), replica()
        claimed = await claim_window_timer(slow)
        assert claimed is not None and claimed.id == timer_id("v1", TimerKind.OPEN, 1)
        assert await other.claim() is None  # leased to the slow replica

        clock.advance(timedelta(seconds=6))  # the slow replica stalls past its lease
        taken_over = await other.claim()
        assert taken_over is not None and taken_over.id == claimed.id
        assert await other.fire(taken_over) is True
        assert await slow.fire(claimed) is False

        await eventually(lambda: voting.has({(OPEN, "v1"): 1}))
        await settled(voting, scheduler)
        assert len(voting.received) == 1
        assert len(await scheduler.store.read(claimed.stream)) == 1


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
    restarted = CountingScheduler(scheduler_settings, clock)  # not started: its store is read
    await settled(voting, restarted)
    assert voting.received == []

    async with running(restarted):
        expected = {(kind, v): 1 for v in ("v1", "v2") for kind in (OPEN, CLOSE)}
        await eventually(lambda: voting.has(expected), timeout=5)
    late = {(e.type, e.payload["voting_id"]): e for e in voting.received}
    assert late[(OPEN, "v1")].message() == VotingOpenTimeReached(
        voting_id="v1", due_at=T0 + timedelta(minutes=1)
    )
    assert late[(OPEN, "v1")].occurred_at == T0 + timedelta(hours=1)


async def test_a_redelivered_schedule_neither_duplicates_timers_nor_fires_them_again(
    scheduler: CountingScheduler, clock: FixedClock, voting: VotingStandIn
) -> None:
    opens_at, closes_at = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
    scheduled = await voting.schedule("v1", opens_at, closes_at)
    for _ in range(3):
        await voting.publish(scheduled)
    # The same change published again under a new message id: same stream version.
    await voting.schedule("v1", opens_at, closes_at)
    await handled_so_far(scheduler, voting)
    assert await timer_states(scheduler, "v1") == {
        "v1:open@1": TimerState.PENDING,
        "v1:close@1": TimerState.PENDING,
    }

    clock.advance(timedelta(minutes=1))
    await eventually(lambda: voting.seen()[(OPEN, "v1")] == 1)

    # Delivered again after the open timer fired: it must not fire a second time.
    await voting.publish(scheduled)
    await handled_so_far(scheduler, voting)
    await settled(voting, scheduler)
    assert voting.seen()[(OPEN, "v1")] == 1
    assert await timer_states(scheduler, "v1") == {
        "v1:open@1": TimerState.FIRED,
        "v1:close@1": TimerState.PENDING,
    }

    clock.advance(timedelta(minutes=1))
    await eventually(lambda: voting.seen()[(CLOSE, "v1")] == 1)
    await settled(voting, scheduler)
    assert voting.seen()[(OPEN, "v1")] == 1 and voting.seen()[(CLOSE, "v1")] == 1
