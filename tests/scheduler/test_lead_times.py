"""The lead-time timers: a reminder before a voting opens, an alert before it closes;
either skipped, never sent late, when its moment has passed (after downtime)."""

from __future__ import annotations

from datetime import timedelta

from contracts.scheduler import VotingClosingSoon, VotingStartingSoon
from eventing.clock import FixedClock
from services.scheduler.domain import TimerDropped, TimerKind, timer_stream
from services.scheduler.service import SchedulerService
from services.scheduler.settings import SchedulerSettings
from tests.scheduler.conftest import (
    OPEN,
    T0,
    VotingStandIn,
    pending,
    running,
    stream_types,
    timer_states,
    timers_stored,
)
from tests.support import eventually

LEADS = (TimerKind.STARTING_SOON, TimerKind.CLOSING_SOON)


async def test_lead_time_events_come_at_their_lead_before_the_voting_opens_and_closes(
    scheduler_settings: SchedulerSettings, clock: FixedClock, voting: VotingStandIn
) -> None:
    settings = scheduler_settings.model_copy(
        update={"reminder_lead_seconds": 900, "alert_lead_seconds": 300}
    )
    async with running(SchedulerService(settings, clock)) as scheduler:
        assert isinstance(scheduler, SchedulerService)
        opens_at, closes_at = T0 + timedelta(minutes=20), T0 + timedelta(minutes=60)
        await voting.schedule("v1", opens_at, closes_at)
        await timers_stored(scheduler, "v1")
        timers = {t.id: t for t in [await _timer(scheduler, "v1", kind) for kind in LEADS]}
        starting = timers["v1:starting-soon@1"]
        closing = timers["v1:closing-soon@1"]
        assert starting.due_at == opens_at - timedelta(minutes=15)
        assert starting.event == VotingStartingSoon(
            voting_id="v1", opens_at=opens_at, due_at=starting.due_at
        )
        assert closing.due_at == closes_at - timedelta(minutes=5)
        assert closing.event == VotingClosingSoon(
            voting_id="v1", closes_at=closes_at, due_at=closing.due_at
        )

        clock.advance(timedelta(minutes=5))
        await eventually(lambda: _state(scheduler, "v1:starting-soon@1", "fired"))
        assert await stream_types(scheduler, starting.stream) == [VotingStartingSoon.type]
        assert await pending(scheduler, "v1", LEADS) == {"v1:closing-soon@1"}


async def test_after_downtime_a_reminder_past_the_opening_is_skipped_not_sent_late(
    scheduler_settings: SchedulerSettings, clock: FixedClock, voting: VotingStandIn
) -> None:
    down = scheduler_settings.model_copy(update={"scheduler_tick_seconds": 3600})
    opens_at, closes_at = T0 + timedelta(minutes=20), T0 + timedelta(minutes=40)
    async with running(SchedulerService(down, clock)) as scheduler:
        assert isinstance(scheduler, SchedulerService)
        await voting.schedule("v1", opens_at, closes_at)
        await timers_stored(scheduler, "v1")
    # No scheduler runs past the reminder's time, the opening, and the alert's time...
    clock.advance(timedelta(minutes=37))
    async with running(SchedulerService(scheduler_settings, clock)) as scheduler:
        assert isinstance(scheduler, SchedulerService)
        # ... so when one comes back, the voting opens, the alert still goes (it closes in
        # three minutes), and the reminder is dropped: the voting is open already.
        await eventually(lambda: voting.has({(OPEN, "v1"): 1}))
        await eventually(lambda: _state(scheduler, "v1:closing-soon@1", "fired"))
        await eventually(lambda: _state(scheduler, "v1:starting-soon@1", "dropped"))
        stream = timer_stream("v1:starting-soon@1")
        assert await stream_types(scheduler, stream) == [TimerDropped.type]

    # And an alert past the close, likewise.
    clock.advance(timedelta(minutes=10))
    async with running(SchedulerService(down, clock)) as scheduler:
        assert isinstance(scheduler, SchedulerService)
        # Neither lead time has come yet (reminder at 50, alert at 65 minutes) ...
        await voting.schedule("v2", T0 + timedelta(minutes=65), T0 + timedelta(minutes=70), 1)
        await timers_stored(scheduler, "v2")
    # ... when the scheduler goes down, until after the voting closed.
    clock.advance(timedelta(minutes=30))
    async with running(SchedulerService(scheduler_settings, clock)) as scheduler:
        assert isinstance(scheduler, SchedulerService)
        await eventually(lambda: _state(scheduler, "v2:closing-soon@1", "dropped"))
        await eventually(lambda: _state(scheduler, "v2:starting-soon@1", "dropped"))
        assert await stream_types(scheduler, timer_stream("v2:closing-soon@1")) == [
            TimerDropped.type
        ]


async def _state(scheduler: SchedulerService, timer: str, state: str) -> bool:
    voting_id = timer.split(":", 1)[0]
    states = await timer_states(scheduler, voting_id, tuple(TimerKind))
    return states.get(timer) == state


async def _timer(scheduler: SchedulerService, voting_id: str, kind: TimerKind):  # type: ignore[no-untyped-def]
    [timer] = [t for t in await scheduler.timers.pending_of(voting_id) if t.kind == kind]
    return timer
