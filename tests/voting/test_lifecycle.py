"""Rescheduling, cancelling, closing early, registration, results and the calendar cap."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from contracts import ErrorCode
from contracts.scheduler import VotingCloseTimeReached, VotingOpenTimeReached
from contracts.voting import (
    CancelVoting,
    CastVote,
    CloseVoting,
    GetResults,
    ListVotings,
    RegisterVoter,
    RescheduleVoting,
)
from services.voting.service import VotingService
from tests.support import count_commits, eventually
from tests.voting.conftest import START, Voting, schedule_command


async def test_a_voting_is_rescheduled_before_it_opens_and_not_after(voting: Voting) -> None:
    tile = await voting.schedule()
    later = START + timedelta(hours=2)
    moved = await voting.ask(
        RescheduleVoting(
            voting_id=tile["id"],
            opens_at=later,
            closes_at=later + timedelta(hours=1),
            requested_by="admin",
        )
    )
    assert moved.error is None and isinstance(moved.result, dict)
    assert moved.result["opens_at"] == later.isoformat()
    voting.clock.advance(timedelta(minutes=15))  # the old opening has passed
    early = await voting.ask(
        CastVote(voting_id=tile["id"], user_id="u1", option_id=tile["options"][0]["id"])
    )
    assert early.error is not None and early.error.code == ErrorCode.VOTING_NOT_OPEN

    voting.clock.advance(timedelta(hours=2))
    too_late = await voting.ask(
        RescheduleVoting(
            voting_id=tile["id"],
            opens_at=later + timedelta(days=1),
            closes_at=later + timedelta(days=2),
            requested_by="admin",
        )
    )
    assert too_late.error is not None and too_late.error.code == ErrorCode.VOTING_ALREADY_OPEN


async def test_a_cancelled_voting_takes_no_votes_and_frees_its_place(voting: Voting) -> None:
    tiles = [await voting.schedule() for _ in range(3)]  # the cap in these tests is 3
    refused = await voting.ask(schedule_command())
    assert refused.error is not None
    assert refused.error.code == ErrorCode.TOO_MANY_CONCURRENT_VOTINGS

    cancelled = await voting.ask(CancelVoting(voting_id=tiles[0]["id"], requested_by="admin"))
    assert cancelled.result is not None and cancelled.result["status"] == "cancelled"
    assert (await voting.ask(schedule_command())).error is None  # the place is free again

    voting.clock.advance(timedelta(minutes=15))
    vote = await voting.ask(
        CastVote(voting_id=tiles[0]["id"], user_id="u1", option_id=tiles[0]["options"][0]["id"])
    )
    assert vote.error is not None and vote.error.code == ErrorCode.VOTING_CLOSED
    again = await voting.ask(CancelVoting(voting_id=tiles[1]["id"], requested_by="admin"))
    assert again.error is not None and again.error.code == ErrorCode.VOTING_ALREADY_OPEN


async def test_votings_that_do_not_overlap_do_not_count_against_the_cap(voting: Voting) -> None:
    for day in range(5):
        opens = START + timedelta(days=day, minutes=10)
        await voting.schedule(opens_at=opens, closes_at=opens + timedelta(hours=1))
    # Back to back: one ends exactly when the next opens.
    for hour in range(5):
        opens = START + timedelta(days=10, hours=hour)
        await voting.schedule(opens_at=opens, closes_at=opens + timedelta(hours=1))


async def test_concurrent_scheduling_never_exceeds_the_cap(voting: Voting) -> None:
    replies = await asyncio.gather(*(voting.ask(schedule_command()) for _ in range(8)))
    accepted = [r for r in replies if r.error is None]
    assert len(accepted) == 3
    assert all(r.error.code == ErrorCode.TOO_MANY_CONCURRENT_VOTINGS for r in replies if r.error)
    assert len((await voting.ask(ListVotings(user_id="u1"))).result or []) == 3


async def test_closing_early_ends_voting_and_shows_results(voting: Voting) -> None:
    tile = await voting.schedule()
    not_yet = await voting.ask(CloseVoting(voting_id=tile["id"], requested_by="admin"))
    assert not_yet.error is not None and not_yet.error.code == ErrorCode.VOTING_NOT_OPEN
    voting.clock.advance(timedelta(minutes=15))
    red, blue = tile["options"][0]["id"], tile["options"][1]["id"]
    for user, option in (("u1", red), ("u2", red), ("u3", blue)):
        cast = await voting.ask(CastVote(voting_id=tile["id"], user_id=user, option_id=option))
        assert cast.error is None

    hidden = await voting.ask(GetResults(voting_id=tile["id"]))
    assert hidden.error is not None and hidden.error.code == ErrorCode.FORBIDDEN
    live = await voting.ask(GetResults(voting_id=tile["id"], is_admin=True))
    assert live.result is not None and live.result["total"] == 3

    assert tile["closed_at"] is None
    closed = await voting.ask(CloseVoting(voting_id=tile["id"], requested_by="admin"))
    assert closed.result is not None and closed.result["status"] == "closed"
    # The tile tells when it closed, not only when it was planned to.
    assert closed.result["closed_at"] == voting.clock.now().isoformat()
    assert closed.result["closes_at"] == tile["closes_at"]
    late = await voting.ask(CastVote(voting_id=tile["id"], user_id="u4", option_id=red))
    assert late.error is not None and late.error.code == ErrorCode.VOTING_CLOSED
    results = await voting.ask(GetResults(voting_id=tile["id"]))
    assert results.result is not None
    assert [(o["label"], o["votes"]) for o in results.result["options"]] == [
        ("Red", 2),
        ("Blue", 1),
        ("Green", 0),
    ]


async def test_registration_is_once_per_user_and_shows_on_the_tile(voting: Voting) -> None:
    tile = await voting.schedule()
    for _ in range(3):
        registered = await voting.ask(RegisterVoter(voting_id=tile["id"], user_id="u1"))
        assert registered.result is not None and registered.result["registered"] is True
    other = (await voting.ask(ListVotings(user_id="u2"))).result or []
    assert other[0]["registered"] is False
    streams = await count_commits(voting.runtime.db, {"stream": f"registration-{tile['id']}:u1"})
    assert streams == 1

    voting.clock.advance(timedelta(hours=2))
    closed = await voting.ask(RegisterVoter(voting_id=tile["id"], user_id="u3"))
    assert closed.error is not None and closed.error.code == ErrorCode.VOTING_CLOSED


async def test_tiles_filter_by_status_and_paid(voting: Voting) -> None:
    free = await voting.schedule()
    paid = await voting.schedule(
        kind="paid", opens_at=START + timedelta(hours=3), closes_at=START + timedelta(hours=4)
    )
    voting.clock.advance(timedelta(minutes=15))
    opened = (await voting.ask(ListVotings(user_id="u1", status="open"))).result or []
    assert [t["id"] for t in opened] == [free["id"]]
    scheduled = (await voting.ask(ListVotings(user_id="u1", status="scheduled"))).result or []
    assert [t["id"] for t in scheduled] == [paid["id"]]
    no_paid = (await voting.ask(ListVotings(user_id="u1", include_paid=False))).result or []
    assert [t["id"] for t in no_paid] == [free["id"]]


async def test_closing_early_stops_votes_on_every_replica_at_once(voting: Voting) -> None:
    settings = voting.runtime.settings.model_copy(update={"voting_cache_seconds": 600})
    replicas = [VotingService(settings, voting.clock) for _ in range(2)]
    for replica in replicas:
        await replica.start()
    try:
        tile = await voting.schedule()
        voting.clock.advance(timedelta(minutes=15))
        option = tile["options"][0]["id"]
        # Every process has the voting in memory by now (requests are spread over them).
        for n in range(12):
            cast = await voting.ask(
                CastVote(voting_id=tile["id"], user_id=f"u{n}", option_id=option)
            )
            assert cast.error is None
        closed = await voting.ask(CloseVoting(voting_id=tile["id"], requested_by="admin"))
        assert closed.error is None
        # The broadcast of the close reaches every process.
        processes = [voting.runtime, *replicas]
        await eventually(lambda: all(tile["id"] not in p.handlers.recent for p in processes))
        for n in range(12, 24):
            late = await voting.ask(
                CastVote(voting_id=tile["id"], user_id=f"u{n}", option_id=option)
            )
            assert late.error is not None and late.error.code == ErrorCode.VOTING_CLOSED
    finally:
        for replica in replicas:
            await replica.stop()


async def test_a_timer_for_a_window_since_moved_changes_nothing(voting: Voting) -> None:
    tile = await voting.schedule()
    later = START + timedelta(hours=2)
    await voting.ask(
        RescheduleVoting(
            voting_id=tile["id"],
            opens_at=later,
            closes_at=later + timedelta(hours=1),
            requested_by="admin",
        )
    )
    # The timers of the first window, delivered late.
    timers = [
        await voting.publish(
            VotingOpenTimeReached(voting_id=tile["id"], due_at=START + timedelta(minutes=10))
        ),
        await voting.publish(
            VotingCloseTimeReached(voting_id=tile["id"], due_at=START + timedelta(minutes=70))
        ),
        await voting.publish(VotingOpenTimeReached(voting_id=tile["id"], due_at=later)),
    ]

    async def opened() -> list[str]:
        types = [e.type for e in await voting.runtime.store.read(f"voting-{tile['id']}")]
        return types if "voting.VotingOpened" in types else []

    await eventually(opened)
    await voting.handled.all(*timers)
    types = [e.type for e in await voting.runtime.store.read(f"voting-{tile['id']}")]
    assert types == ["voting.VotingScheduled", "voting.VotingRescheduled", "voting.VotingOpened"]
