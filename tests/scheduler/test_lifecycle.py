"""Timers follow a voting's lifecycle: reschedule moves them, cancel and close drop them.

On the real broker and store, with changes redelivered, out of order, and applied by two
replicas at once.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable
from datetime import timedelta

import aio_pika

from contracts import Envelope
from contracts.scheduler import VotingCloseTimeReached, VotingOpenTimeReached
from contracts.voting import VotingCancelled, VotingRescheduled, VotingScheduled
from eventing.clock import FixedClock
from services.scheduler.domain import (
    ScheduleChange,
    ScheduleEvent,
    TimerDropped,
    TimerKind,
    TimerState,
    timer_id,
    timer_stream,
)
from services.scheduler.service import SchedulerService
from services.scheduler.settings import SchedulerSettings
from tests.conftest import Servers
from tests.scheduler.conftest import (
    CLOSE,
    OPEN,
    T0,
    CountingScheduler,
    VotingStandIn,
    claim_window_timer,
    handled_so_far,
    pending,
    running,
    settled,
    stream_types,
    timer_states,
    timers_stored,
)
from tests.support import eventually

MINUTE = timedelta(minutes=1)
PENDING, FIRED, DROPPED = TimerState.PENDING, TimerState.FIRED, TimerState.DROPPED


async def test_a_rescheduled_voting_fires_once_at_its_new_times_never_at_its_old(
    scheduler: CountingScheduler, clock: FixedClock, voting: VotingStandIn
) -> None:
    await voting.schedule("v1", T0 + 1 * MINUTE, T0 + 2 * MINUTE)
    await timers_stored(scheduler, "v1")
    moved = await voting.reschedule("v1", 2, T0 + 3 * MINUTE, T0 + 5 * MINUTE)
    await eventually(
        lambda: probe_states(scheduler, "v1", {"v1:open@1": DROPPED, "v1:close@1": DROPPED})
    )
    assert await pending(scheduler, "v1") == {"v1:open@2", "v1:close@2"}

    clock.advance(2.5 * MINUTE)  # past both old times
    await settled(voting, scheduler)
    assert voting.received == []

    clock.advance(0.5 * MINUTE)
    await eventually(lambda: voting.has({(OPEN, "v1"): 1}))
    opened = voting.of(OPEN, "v1")[0]
    assert opened.message() == VotingOpenTimeReached(voting_id="v1", due_at=T0 + 3 * MINUTE)
    # The moved timer continues the conversation of the change that moved it.
    assert opened.causation_id == moved.message_id

    clock.advance(2 * MINUTE)
    await eventually(lambda: voting.has({(OPEN, "v1"): 1, (CLOSE, "v1"): 1}))
    closed = voting.of(CLOSE, "v1")[0]
    assert closed.message() == VotingCloseTimeReached(voting_id="v1", due_at=T0 + 5 * MINUTE)
    await settled(voting, scheduler)
    assert len(voting.received) == 2
    assert await timer_states(scheduler, "v1") == {
        "v1:open@1": DROPPED,
        "v1:close@1": DROPPED,
        "v1:open@2": FIRED,
        "v1:close@2": FIRED,
    }
    # Each timer's stream holds the one event that settled it.
    assert await stream_types(scheduler, timer_stream("v1:open@1")) == [TimerDropped.type]
    assert await stream_types(scheduler, timer_stream("v1:open@2")) == [OPEN]


async def test_moved_away_and_back_to_its_first_time_a_timer_fires_once_then(
    scheduler: CountingScheduler, clock: FixedClock, voting: VotingStandIn
) -> None:
    first_open, first_close = T0 + 1 * MINUTE, T0 + 2 * MINUTE
    await voting.schedule("v1", first_open, first_close)
    await voting.reschedule("v1", 2, T0 + 10 * MINUTE, T0 + 20 * MINUTE)
    await voting.reschedule("v1", 3, first_open, first_close)
    await handled_so_far(scheduler, voting)
    assert await pending(scheduler, "v1") == {"v1:open@3", "v1:close@3"}

    clock.advance(30 * MINUTE)
    await eventually(lambda: voting.has({(OPEN, "v1"): 1, (CLOSE, "v1"): 1}))
    await settled(voting, scheduler)
    assert len(voting.received) == 2
    assert voting.of(OPEN, "v1")[0].message() == VotingOpenTimeReached(
        voting_id="v1", due_at=first_open
    )


async def test_a_cancelled_voting_has_no_timer_left_to_fire(
    scheduler: CountingScheduler, clock: FixedClock, voting: VotingStandIn
) -> None:
    await voting.schedule("v1", T0 + 1 * MINUTE, T0 + 2 * MINUTE)
    await timers_stored(scheduler, "v1")
    await voting.cancel("v1", 2)
    await eventually(
        lambda: probe_states(scheduler, "v1", {"v1:open@1": DROPPED, "v1:close@1": DROPPED})
    )

    clock.advance(timedelta(hours=1))
    await settled(voting, scheduler)
    assert voting.received == []


async def test_closing_early_drops_the_pending_close_timer(
    scheduler: CountingScheduler, clock: FixedClock, voting: VotingStandIn
) -> None:
    await voting.schedule("v1", T0 + 1 * MINUTE, T0 + 10 * MINUTE)
    await timers_stored(scheduler, "v1")
    clock.advance(1 * MINUTE)
    await eventually(lambda: voting.has({(OPEN, "v1"): 1}))

    # Version 2 is the voting's VotingOpened, which the scheduler does not listen to.
    await voting.close("v1", 3, at=clock.now())
    await eventually(
        lambda: probe_states(scheduler, "v1", {"v1:open@1": FIRED, "v1:close@1": DROPPED})
    )

    clock.advance(10 * MINUTE)
    await settled(voting, scheduler)
    assert voting.has({(OPEN, "v1"): 1})


async def test_changes_arriving_out_of_order_leave_the_newest_ones_timers(
    scheduler: CountingScheduler, clock: FixedClock, voting: VotingStandIn
) -> None:
    # Each change is handled before the next is published, so the order is the one here.
    async def one_by_one(*changes: Awaitable[Envelope]) -> None:
        for change in changes:
            await change
            await handled_so_far(scheduler, voting)

    # A reschedule handled before the schedule it follows.
    await one_by_one(
        voting.reschedule("moved", 2, T0 + 3 * MINUTE, T0 + 4 * MINUTE),
        voting.schedule("moved", T0 + 1 * MINUTE, T0 + 2 * MINUTE),
    )
    # Two reschedules, the newer first.
    await one_by_one(
        voting.reschedule("twice", 3, T0 + 5 * MINUTE, T0 + 6 * MINUTE),
        voting.reschedule("twice", 2, T0 + 1 * MINUTE, T0 + 2 * MINUTE),
        voting.schedule("twice", T0 + 1 * MINUTE, T0 + 2 * MINUTE),
    )
    # A cancel handled before the schedule and the reschedule.
    await one_by_one(
        voting.cancel("gone", 3),
        voting.schedule("gone", T0 + 1 * MINUTE, T0 + 2 * MINUTE),
        voting.reschedule("gone", 2, T0 + 3 * MINUTE, T0 + 4 * MINUTE),
    )

    # Stale changes set nothing at all, not even timers that are dropped later.
    assert await timer_states(scheduler, "moved") == {
        "moved:open@2": PENDING,
        "moved:close@2": PENDING,
    }
    assert await timer_states(scheduler, "twice") == {
        "twice:open@3": PENDING,
        "twice:close@3": PENDING,
    }
    assert await timer_states(scheduler, "gone") == {}

    clock.advance(10 * MINUTE)
    expected = {(kind, v): 1 for v in ("moved", "twice") for kind in (OPEN, CLOSE)}
    await eventually(lambda: voting.has(expected))
    await settled(voting, scheduler)
    assert voting.has(expected)
    due = {(e.type, e.payload["voting_id"]): e.message() for e in voting.received}
    assert due[(OPEN, "moved")] == VotingOpenTimeReached(voting_id="moved", due_at=T0 + 3 * MINUTE)
    assert due[(CLOSE, "twice")] == VotingCloseTimeReached(
        voting_id="twice", due_at=T0 + 6 * MINUTE
    )


async def test_redelivered_changes_leave_exactly_the_newest_timers(
    scheduler: CountingScheduler, clock: FixedClock, voting: VotingStandIn
) -> None:
    scheduled = await voting.schedule("v1", T0 + 1 * MINUTE, T0 + 2 * MINUTE)
    moved = await voting.reschedule("v1", 2, T0 + 3 * MINUTE, T0 + 4 * MINUTE)
    # Every change again, as the same message and as a new message of the same version.
    for envelope in (scheduled, moved, scheduled, moved):
        await voting.publish(envelope)
    await voting.publish(_republished(scheduled))
    await voting.publish(_republished(moved))
    await handled_so_far(scheduler, voting)
    # Handled in whatever order they were delivered: the first schedule's timers may
    # never have been set, and if they were, they were dropped.
    assert await pending(scheduler, "v1") == {"v1:open@2", "v1:close@2"}
    states = await timer_states(scheduler, "v1")
    assert {state for timer, state in states.items() if timer.endswith("@1")} <= {DROPPED}

    clock.advance(3 * MINUTE)
    await eventually(lambda: voting.has({(OPEN, "v1"): 1}))
    # Redelivered after its timer fired: the fired timer stays fired, nothing fires again.
    await voting.publish(moved)
    await voting.publish(scheduled)
    await handled_so_far(scheduler, voting)
    clock.advance(1 * MINUTE)
    await eventually(lambda: voting.has({(OPEN, "v1"): 1, (CLOSE, "v1"): 1}))
    await settled(voting, scheduler)
    assert len(voting.received) == 2
    for kind in TimerKind:
        assert len(await stream_types(scheduler, timer_stream(timer_id("v1", kind, 2)))) == 1


async def test_two_replicas_applying_changes_of_one_voting_at_once_agree_on_its_timers(
    scheduler_settings: SchedulerSettings, clock: FixedClock
) -> None:
    # The replicas' loops stay out of the way: this is about which timers are pending.
    quiet_settings = scheduler_settings.model_copy(update={"scheduler_tick_seconds": 3600})
    async with (
        running(SchedulerService(quiet_settings, clock)) as first,
        running(SchedulerService(quiet_settings, clock)) as second,
    ):
        assert isinstance(first, SchedulerService) and isinstance(second, SchedulerService)
        rng = random.Random(7)
        expected: dict[str, set[str]] = {}
        applications = []
        for n in range(16):
            voting_id = f"v{n}"
            changes = _lifecycle(voting_id, cancelled=n % 4 == 0)
            newest = max(c.version for c in changes)
            expected[voting_id] = (
                set() if n % 4 == 0 else {timer_id(voting_id, kind, newest) for kind in TimerKind}
            )
            # Every change twice, on either replica, in any order, all at once.
            for change in changes * 2:
                replica = rng.choice((first, second))
                applications.append(replica.timetable.apply(change))
        rng.shuffle(applications)
        await asyncio.gather(*applications)

        for voting_id, timers in expected.items():
            # The window's timers: lead-time ones this near may fire on a loop's first tick.
            window = {t for t in timers if ":open@" in t or ":close@" in t}
            assert await pending(first, voting_id) == window, voting_id
            states = await timer_states(first, voting_id)
            assert all(state == DROPPED for t, state in states.items() if t not in window)


async def test_a_timer_dropped_while_claimed_for_firing_never_fires(
    scheduler_settings: SchedulerSettings, clock: FixedClock, voting: VotingStandIn
) -> None:
    quiet_settings = scheduler_settings.model_copy(update={"scheduler_tick_seconds": 3600})
    # The loop's one tick happens while nothing is due yet, so only the test claims.
    clock.advance(timedelta(minutes=-1))
    async with running(SchedulerService(quiet_settings, clock)) as scheduler:
        assert isinstance(scheduler, SchedulerService)
        await voting.schedule("v1", T0, T0 + timedelta(hours=1))
        await timers_stored(scheduler, "v1")
        clock.advance(timedelta(minutes=1))
        loop = scheduler.timer_loop
        claimed = await claim_window_timer(loop)
        assert claimed is not None and claimed.id == "v1:open@1"

        # The cancel is handled between the claim and the fire.
        await voting.cancel("v1", 2)
        await eventually(
            lambda: probe_states(scheduler, "v1", {"v1:open@1": DROPPED, "v1:close@1": DROPPED})
        )
        assert await loop.fire(claimed) is False
        await settled(voting, scheduler)
        assert voting.received == []
        assert await stream_types(scheduler, claimed.stream) == [TimerDropped.type]


async def test_firing_and_dropping_the_same_timers_at_once_settle_each_one_way(
    scheduler_settings: SchedulerSettings, clock: FixedClock, voting: VotingStandIn
) -> None:
    quiet_settings = scheduler_settings.model_copy(update={"scheduler_tick_seconds": 3600})
    async with running(SchedulerService(quiet_settings, clock)) as scheduler:
        assert isinstance(scheduler, SchedulerService)
        votings = [f"v{n}" for n in range(10)]
        for voting_id in votings:
            await voting.schedule(voting_id, T0, T0 + timedelta(hours=1))
        timers = []
        for voting_id in votings:
            await timers_stored(scheduler, voting_id)
            timers += await scheduler.timers.pending_of(voting_id)
        opens = [t for t in timers if t.kind is TimerKind.OPEN]

        outcomes = await asyncio.gather(
            *(scheduler.timetable.fire(t) for t in opens),
            *(scheduler.timetable.drop(t, superseded_by=2) for t in opens),
        )
        fired, dropped = outcomes[: len(opens)], outcomes[len(opens) :]
        # Exactly one of firing and dropping took each timer.
        assert all(f != d for f, d in zip(fired, dropped, strict=True))
        await eventually(lambda: len(voting.received) == sum(fired))
        await settled(voting, scheduler)
        assert len(voting.received) == sum(fired)
        for timer, was_fired in zip(opens, fired, strict=True):
            assert len(await stream_types(scheduler, timer.stream)) == 1
            expected = FIRED if was_fired else DROPPED
            assert (await timer_states(scheduler, timer.voting_id))[timer.id] == expected


async def test_a_change_without_its_stream_version_is_dead_lettered(
    scheduler: CountingScheduler, voting: VotingStandIn, servers: Servers
) -> None:
    unversioned = VotingStandIn.at_version("v1", 1, _scheduled("v1")).model_copy(
        update={"stream": None, "version": None}
    )
    await voting.publish(unversioned)

    async def dead_letters() -> list[str]:
        # Quorum queues on RabbitMQ 3.x report no length to a passive declare: look inside.
        connection = await aio_pika.connect(servers.rabbitmq_url)
        try:
            channel = await connection.channel()
            queue = await channel.get_queue(scheduler.bus.names("dead-letters"))
            message = await queue.get(fail=False, no_ack=False)
            if message is None:
                return []
            await message.nack(requeue=True)
            return [str(message.message_id)]
        finally:
            await connection.close()

    assert await eventually(dead_letters) == [unversioned.message_id]
    assert await timer_states(scheduler, "v1") == {}


# Helpers ------------------------------------------------------------------------------


async def probe_states(
    scheduler: SchedulerService, voting_id: str, expected: dict[str, TimerState]
) -> bool:
    states = await timer_states(scheduler, voting_id)
    return all(states.get(timer) == state for timer, state in expected.items())


def _republished(envelope: Envelope) -> Envelope:
    """The same change under a new message id, as a second publish of one commit."""
    return Envelope.wrap(envelope.message()).model_copy(
        update={"stream": envelope.stream, "version": envelope.version}
    )


def _scheduled(voting_id: str) -> VotingScheduled:
    return VotingScheduled(
        voting_id=voting_id,
        title="t",
        description="",
        kind="free",
        cost=0,
        options=[],
        opens_at=T0 + MINUTE,
        closes_at=T0 + 2 * MINUTE,
        scheduled_by="admin",
    )


def _lifecycle(voting_id: str, *, cancelled: bool) -> list[ScheduleChange]:
    """A schedule, two reschedules and, perhaps, a cancel: versions 1 to 4."""
    events: list[ScheduleEvent] = [
        _scheduled(voting_id),
        VotingRescheduled(voting_id=voting_id, opens_at=T0 + 3 * MINUTE, closes_at=T0 + 4 * MINUTE),
        VotingRescheduled(voting_id=voting_id, opens_at=T0 + 5 * MINUTE, closes_at=T0 + 6 * MINUTE),
    ]
    if cancelled:
        events.append(VotingCancelled(voting_id=voting_id, cancelled_at=T0))
    return [
        ScheduleChange.of(event, VotingStandIn.at_version(voting_id, version, event))
        for version, event in enumerate(events, start=1)
    ]
