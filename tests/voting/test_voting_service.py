"""The voting service's handlers on a real broker and store, driven by request-reply."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from contracts import Envelope, ErrorCode
from contracts.scheduler import VotingCloseTimeReached, VotingOpenTimeReached
from contracts.voting import CastVote, GetResults, GetVoting, ListVotings, ScheduleVoting
from eventing.repository import Repository
from eventing.store import EventStore
from services.voting import domain
from tests.support import count_commits, eventually
from tests.voting.conftest import START, Voting, schedule_command


async def test_a_scheduled_voting_is_a_tile_with_options_and_status(voting: Voting) -> None:
    tile = await voting.schedule()
    assert tile["title"] == "Song of the night"
    assert tile["status"] == "scheduled"
    assert tile["kind"] == "free" and tile["cost"] == 0
    assert [o["label"] for o in tile["options"]] == ["Red", "Blue", "Green"]
    assert len({o["id"] for o in tile["options"]}) == 3
    assert tile["registered"] is False and tile["my_vote"] is None
    paid = await voting.schedule(kind="paid", opens_at=START + timedelta(minutes=20))
    assert paid["cost"] == 1
    listed = await voting.ask(ListVotings(user_id="u1"))
    assert [t["id"] for t in listed.result or []] == [tile["id"], paid["id"]]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"options": ["Only one"]}, "at least two options"),
        ({"options": ["Red", " red "]}, "unique"),
        ({"options": ["Red", "  "]}, "empty"),
        ({"title": "   "}, "title"),
        ({"closes_at": START + timedelta(minutes=10)}, "at least one second after"),
        # Empty once kept to the millisecond, as the store keeps it.
        (
            {"closes_at": START + timedelta(minutes=10, microseconds=1)},
            "at least one second after",
        ),
        ({"opens_at": START - timedelta(hours=1)}, "in the past"),
    ],
)
async def test_an_invalid_voting_is_refused_and_nothing_is_stored(
    voting: Voting, overrides: dict[str, Any], message: str
) -> None:
    fields: dict[str, Any] = {
        "title": "T",
        "description": "",
        "options": ["A", "B"],
        "kind": "free",
        "opens_at": START + timedelta(minutes=10),
        "closes_at": START + timedelta(minutes=70),
        "scheduled_by": "admin",
    }
    reply = await voting.ask(ScheduleVoting(**(fields | overrides)))
    assert reply.error is not None
    assert reply.error.code == ErrorCode.VALIDATION_ERROR
    assert message in reply.error.message
    assert (await voting.ask(ListVotings(user_id="u1"))).result == []


async def test_the_vote_window_follows_the_server_clock(voting: Voting) -> None:
    tile = await voting.schedule()
    option = tile["options"][0]["id"]

    early = await voting.ask(CastVote(voting_id=tile["id"], user_id="u1", option_id=option))
    assert early.error is not None and early.error.code == ErrorCode.VOTING_NOT_OPEN
    assert early.error.details["opens_at"] == tile["opens_at"]

    voting.clock.advance(timedelta(minutes=10))  # exactly opens_at: open, no timer needed
    cast = await voting.ask(CastVote(voting_id=tile["id"], user_id="u1", option_id=option))
    assert cast.error is None
    assert cast.result is not None and cast.result["status"] == "confirmed"

    voting.clock.advance(timedelta(minutes=60))  # exactly closes_at: closed
    late = await voting.ask(CastVote(voting_id=tile["id"], user_id="u2", option_id=option))
    assert late.error is not None and late.error.code == ErrorCode.VOTING_CLOSED
    mine = await voting.ask(GetVoting(voting_id=tile["id"], user_id="u1"))
    assert mine.result is not None
    assert mine.result["status"] == "closed"
    assert mine.result["my_vote"]["option_id"] == option
    assert mine.result["registered"] is True


async def test_unknown_option_and_unknown_voting_are_refused(voting: Voting) -> None:
    tile = await voting.schedule()
    voting.clock.advance(timedelta(minutes=15))
    reply = await voting.ask(CastVote(voting_id=tile["id"], user_id="u1", option_id="nope"))
    assert reply.error is not None and reply.error.code == ErrorCode.UNKNOWN_OPTION
    missing = await voting.ask(CastVote(voting_id="missing", user_id="u1", option_id="x"))
    assert missing.error is not None and missing.error.code == ErrorCode.NOT_FOUND
    assert (await voting.ask(GetVoting(voting_id="missing", user_id="u1"))).error is not None


async def test_one_user_voting_fifty_times_at_once_counts_once(voting: Voting) -> None:
    tile = await voting.schedule()
    voting.clock.advance(timedelta(minutes=15))
    options = [o["id"] for o in tile["options"]]
    replies = await asyncio.gather(
        *(
            voting.ask(CastVote(voting_id=tile["id"], user_id="u1", option_id=options[i % 3]))
            for i in range(50)
        )
    )
    confirmed = [r for r in replies if r.error is None]
    assert len(confirmed) == 1
    assert all(r.error.code == ErrorCode.ALREADY_VOTED for r in replies if r.error is not None)
    results = (await voting.ask(GetResults(voting_id=tile["id"], is_admin=True))).result
    assert results["total"] == 1
    commits = await count_commits(voting.runtime.db, {"stream": {"$regex": "^vote-"}})
    assert commits == 1


async def test_timer_events_record_opening_and_closing_once(voting: Voting) -> None:
    tile = await voting.schedule()
    opened = Envelope.wrap(
        VotingOpenTimeReached(voting_id=tile["id"], due_at=START + timedelta(minutes=10))
    )
    closed = Envelope.wrap(
        VotingCloseTimeReached(voting_id=tile["id"], due_at=START + timedelta(minutes=70))
    )
    # Each delivered twice; the opening before the closing, as the scheduler fires them.
    for envelope in (opened, opened):
        await voting.client.bus.publish_event(envelope)
    await eventually(recorded_type(voting, tile["id"], "voting.VotingOpened"))
    for envelope in (closed, closed):
        await voting.client.bus.publish_event(envelope)
    await eventually(recorded_type(voting, tile["id"], "voting.VotingClosed"))
    await voting.handled.all(opened, opened, closed, closed)
    types = [e.type for e in await voting.runtime.store.read(f"voting-{tile['id']}")]
    assert types == ["voting.VotingScheduled", "voting.VotingOpened", "voting.VotingClosed"]


def recorded_type(voting: Voting, voting_id: str, event_type: str) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        events = await voting.runtime.store.read(f"voting-{voting_id}")
        return event_type in [e.type for e in events]

    return probe


async def test_read_models_rebuild_from_the_store(voting: Voting) -> None:
    tile = await voting.schedule()
    voting.clock.advance(timedelta(minutes=15))
    option = tile["options"][1]["id"]
    await voting.ask(CastVote(voting_id=tile["id"], user_id="u1", option_id=option))
    before = (await voting.ask(ListVotings(user_id="u1"))).result

    async def read_models_gone() -> bool:
        # The relay shows each commit again before publishing it; one it shows after the
        # delete brings a document back, so delete until none does.
        await voting.runtime.db["votings"].delete_many({})
        return (await voting.ask(ListVotings(user_id="u1"))).result == []

    assert await eventually(read_models_gone)
    # the voting, its calendar booking and the vote
    assert await voting.runtime.read_models.rebuild() == 3
    assert (await voting.ask(ListVotings(user_id="u1"))).result == before


async def test_a_command_with_a_time_no_consumer_can_hold_is_refused_and_nothing_stored(
    voting: Voting,
) -> None:
    # As a client bypassing the gateway would send it: year 10000 once in UTC.
    command = Envelope.wrap(schedule_command())
    command.payload["closes_at"] = "9999-12-31T23:59:59-23:59"
    reply = await voting.client.bus.request("voting", command)
    assert reply.error is not None
    assert reply.error.code == ErrorCode.VALIDATION_ERROR
    assert (await voting.ask(ListVotings(user_id="u1"))).result == []


async def test_a_vote_whose_writer_died_before_showing_it_is_shown_and_published_by_the_sweep(
    voting: Voting,
) -> None:
    tile = await voting.schedule()
    voting.clock.advance(timedelta(minutes=15))
    rules = await Repository(voting.runtime.store, domain.Voting).get(tile["id"])
    assert rules is not None
    vote = domain.Vote(domain.Vote.key(tile["id"], "u1"))
    vote.cast(rules, "u1", tile["options"][1]["id"], voting.clock.now())
    # What a process that died right after its append leaves behind: the commit and its
    # outbox entry, neither shown in the read models nor published.
    await Repository(EventStore(voting.runtime.db), domain.Vote).save(vote)

    async def shown() -> Any:
        tiles = (await voting.ask(ListVotings(user_id="u1"))).result
        return tiles and tiles[0]["my_vote"]

    my_vote = await eventually(shown)
    assert my_vote["vote_id"] == vote.vote_id

    # And published: its outbox entry goes once the broker has confirmed it.
    async def published() -> bool:
        return await voting.runtime.store.unpublished(10) == []

    assert await eventually(published)
