import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from contracts import Envelope
from contracts.wallet import AccountOpened
from eventing.outbox import ABANDONED_AFTER, ENTRIES, ENTRY_PREFIX, entry_id
from eventing.settings import RuntimeSettings
from eventing.store import (
    COMMITS,
    OUTBOX,
    Commit,
    ConcurrencyConflict,
    EventStore,
    commit_id,
)
from tests.support import SentCommands, eventually


@pytest.fixture
async def store(settings: RuntimeSettings):
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
    store = EventStore(client[settings.database_name("store")])
    await store.ensure_indexes()
    yield store
    await client.close()


def event(user: str) -> Envelope:
    return Envelope.wrap(AccountOpened(user_id=user))


async def test_two_concurrent_appends_at_one_version_exactly_one_wins(store: EventStore) -> None:
    await store.append("account-1", 0, [event("first")])
    outcomes = await asyncio.gather(
        store.append("account-1", 1, [event("a"), event("b")]),
        store.append("account-1", 1, [event("c")]),
        return_exceptions=True,
    )
    winners = [o for o in outcomes if isinstance(o, Commit)]
    losers = [o for o in outcomes if isinstance(o, ConcurrencyConflict)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert losers[0].stream == "account-1" and losers[0].expected_version == 1

    stored = await store.read("account-1")
    assert [e.version for e in stored] == list(range(1, len(stored) + 1))
    assert [e.message_id for e in stored[1:]] == [e.message_id for e in winners[0].events]
    assert await store.version("account-1") == winners[0].version


async def test_a_stream_stored_before_events_were_kept_as_text_reads_on_with_new_appends(
    store: EventStore, settings: RuntimeSettings
) -> None:
    # A commit of the earlier layout: its events as documents.
    earlier = event("stored as a document").model_copy(
        update={"stream": "account-earlier", "version": 1}
    )
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url)
    await client[settings.database_name("store")][COMMITS].insert_one(
        {
            "_id": commit_id("account-earlier", 1),
            "position": ObjectId(),
            "stream": "account-earlier",
            "version": 1,
            "events": [earlier.model_dump(mode="json")],
        }
    )
    await client.close()

    later = await store.append("account-earlier", 1, [event("stored as text")])

    stored = await store.read("account-earlier")
    assert [e.message_id for e in stored] == [earlier.message_id, later.events[0].message_id]
    assert [e.payload["user_id"] for e in stored] == ["stored as a document", "stored as text"]
    assert await store.version("account-earlier") == 2


async def test_the_streams_under_a_prefix_are_read_whole_and_in_order(store: EventStore) -> None:
    for version in range(12):
        await store.append("vote-v1:u1", version, [event(f"u1 {version + 1}")])
    await store.append("vote-v1:u2", 0, [event("u2 1"), event("u2 2")])
    # Streams next to the range on either side, and one whose name goes on from it.
    await store.append("vote-v1;u3", 0, [event("after")])
    await store.append("vote-v0:u4", 0, [event("before")])
    await store.append("vote-v10:u5", 0, [event("longer voting id")])

    streams = await store.read_streams("vote-v1:")

    assert sorted(streams) == ["vote-v1:u1", "vote-v1:u2"]
    assert [e.version for e in streams["vote-v1:u1"]] == list(range(1, 13))
    users = [e.message().user_id for e in streams["vote-v1:u1"]]  # type: ignore[attr-defined]
    assert users == [f"u1 {n}" for n in range(1, 13)]
    assert [e.version for e in streams["vote-v1:u2"]] == [1, 2]


async def test_many_writers_racing_leave_a_gapless_stream(store: EventStore) -> None:
    async def writer(name: str) -> int:
        wins = 0
        for _ in range(5):
            while True:
                version = await store.version("account-2")
                try:
                    await store.append("account-2", version, [event(name)])
                    wins += 1
                    break
                except ConcurrencyConflict:
                    continue
        return wins

    wins = await asyncio.gather(*(writer(f"w{i}") for i in range(8)))
    assert sum(wins) == 40
    stored = await store.read("account-2")
    assert [e.version for e in stored] == list(range(1, 41))


async def test_a_multi_event_append_is_read_back_whole_and_in_order(store: EventStore) -> None:
    events = [event(str(i)) for i in range(5)]
    commit = await store.append("account-3", 0, events)
    assert commit.version == 5
    stored = await store.read("account-3")
    assert [e.message_id for e in stored] == [e.message_id for e in events]
    assert all(e.stream == "account-3" for e in stored)
    assert await store.read("account-none") == []
    assert await store.version("account-none") == 0


async def test_a_stream_is_read_in_version_order_apart_from_streams_named_after_it(
    store: EventStore,
) -> None:
    # Versions 1..12 sort as "@1", "@10", "@11", "@12", "@2"... among the commits' ids, and
    # "timer-v1@1" is a stream of its own whose commits ("timer-v1@1@1") sort among them.
    for version in range(12):
        await store.append("timer-v1", version, [event(f"v{version + 1}")])
    await store.append("timer-v1@1", 0, [event("other"), event("other too")])
    await store.append("timer-v1@", 0, [event("another")])

    stored = await store.read("timer-v1")
    assert [e.version for e in stored] == list(range(1, 13))
    assert [e.message() for e in stored] == [AccountOpened(user_id=f"v{n}") for n in range(1, 13)]
    assert await store.version("timer-v1") == 12
    assert [e.message() for e in await store.read("timer-v1@1")] == [
        AccountOpened(user_id="other"),
        AccountOpened(user_id="other too"),
    ]
    assert await store.read("timer-v1", after=10) == stored[10:]


async def test_concurrent_appends_are_stored_and_published_each_and_a_lost_race_fails_alone(
    store: EventStore,
) -> None:
    # Appends made at once are written together; each still has its own outcome.
    outcomes = await asyncio.gather(
        *(store.append(f"account-many-{n}", 0, [event(str(n))]) for n in range(50)),
        store.append("account-many-7", 0, [event("late")]),
        return_exceptions=True,
    )
    assert all(isinstance(o, Commit) for o in outcomes[:50]), outcomes
    assert isinstance(outcomes[50], ConcurrencyConflict)
    for n in range(50):
        assert [e.payload["user_id"] for e in await store.read(f"account-many-{n}")] == [str(n)]
    # Every stored commit waits in the outbox; the lost race left nothing there.
    waiting = await store.unpublished(100)
    assert sorted(c.id for c in waiting) == sorted(o.id for o in outcomes[:50])
    store.mark_published(waiting)
    await store.marks_landed()
    assert await store.unpublished(100) == []


@pytest.mark.parametrize("appends", [20, 150])  # 150: past a FerretDB insert batch (100)
async def test_appends_that_lost_their_race_in_the_middle_of_a_group_fail_alone(
    store: EventStore, appends: int
) -> None:
    # An ordered insert stops at the first commit refused: the ones after it must be
    # stored all the same, and only the losers fail.
    streams = [f"account-middle-{appends}-{n}" for n in range(appends)]
    losers = {streams[3], streams[11], streams[appends - 2]}
    for stream in losers:
        await store.append(stream, 0, [event("first")])
    outcomes = await asyncio.gather(
        *(store.append(stream, 0, [event(stream)]) for stream in streams),
        return_exceptions=True,
    )
    for stream, outcome in zip(streams, outcomes, strict=True):
        if stream in losers:
            assert isinstance(outcome, ConcurrencyConflict), (stream, outcome)
            assert [e.payload["user_id"] for e in await store.read(stream)] == ["first"]
        else:
            assert isinstance(outcome, Commit), (stream, outcome)
            assert [e.payload["user_id"] for e in await store.read(stream)] == [stream]
    waiting = await store.unpublished(1000)
    assert {o.id for o in outcomes if isinstance(o, Commit)} <= {c.id for c in waiting}
    for commit in waiting:
        if commit.stream in losers:
            assert [e.payload["user_id"] for e in commit.events] == ["first"]
    store.mark_published(waiting)
    await store.marks_landed()
    assert await store.unpublished(1000) == []


async def test_a_race_lost_in_a_group_costs_no_read_when_the_rest_goes_in(
    recorded: tuple[EventStore, SentCommands],
) -> None:
    store, commands = recorded
    streams = [f"account-one-loser-{n}" for n in range(10)]
    try:
        await store.append(streams[5], 0, [event("first")])
        commands.sent.clear()
        outcomes = await asyncio.gather(
            *(store.append(stream, 0, [event(stream)]) for stream in streams),
            return_exceptions=True,
        )
        # Those after the loser are sent again without reading what the group stored.
        assert "find" not in commands.names, commands.names
        assert isinstance(outcomes[5], ConcurrencyConflict), outcomes[5]
        for stream, outcome in zip(streams, outcomes, strict=True):
            expected = "first" if stream == streams[5] else stream
            assert [e.payload["user_id"] for e in await store.read(stream)] == [expected]
            assert stream == streams[5] or isinstance(outcome, Commit), (stream, outcome)
    finally:
        store.mark_published(await store.unpublished(1000))
        await store.marks_landed()


async def test_the_outbox_entries_among_the_commits_are_never_read_as_commits(
    store: EventStore,
) -> None:
    appended = await asyncio.gather(
        *(store.append(f"account-among-{n}", 0, [event(str(n))]) for n in range(5))
    )
    assert await store.unpublished(100)  # their entries are there
    replayed = [commit.id async for commit in store.replay()]
    assert {c.id for c in appended} <= set(replayed)
    assert not [i for i in replayed if i.startswith(ENTRY_PREFIX)]
    store.mark_published(appended)
    await store.marks_landed()


async def test_appends_made_at_once_leave_the_outbox_only_when_all_are_published(
    store: EventStore, settings: RuntimeSettings
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
    commits_collection = client[settings.database_name("store")][COMMITS]
    try:
        commits = await asyncio.gather(
            *(store.append(f"account-group-{n}", 0, [event(str(n))]) for n in range(20))
        )
        written = await commits_collection.count_documents(ENTRIES)
        assert 1 <= written < 20  # written together: fewer entries than appends

        # Published but for the last: what a sweep finds now still includes it, so a
        # process dying here loses nothing (the others go out again, deduplicated).
        store.mark_published(commits[:-1])
        await store.marks_landed()
        assert commits[-1].id in {c.id for c in await store.unpublished(100)}

        store.mark_published(commits[-1:])
        await store.marks_landed()
        assert await commits_collection.count_documents(ENTRIES) == 0
        assert await store.unpublished(100) == []
    finally:
        await commits_collection.delete_many(ENTRIES)
        await client.close()


async def test_entries_published_moments_apart_are_deleted_in_one_statement(
    recorded: tuple[EventStore, SentCommands],
) -> None:
    store, commands = recorded
    appended = [  # one at a time: a group, and an entry, each
        await store.append(f"account-apart-{n}", 0, [event(str(n))]) for n in range(3)
    ]
    for commit in appended:
        store.mark_published([commit])
        # A store round trip between the marks: time enough for a delete that did not
        # wait for others to have gone on its own.
        await store.read(commit.stream)
    await store.marks_landed()
    assert commands.names.count("delete") == 1
    assert await store.unpublished(100) == []


LAYOUTS = ["among the commits", "earlier: a collection of its own"]


async def _write_entry(
    database: Any, layout: str, position: ObjectId, commit_ids: list[str]
) -> None:
    """An outbox entry as a process of that layout writes it."""
    if layout == LAYOUTS[0]:
        await database[COMMITS].insert_one({"_id": entry_id(position), "commits": commit_ids})
    elif len(commit_ids) == 1:  # the first layout: an entry per commit
        await database[OUTBOX].insert_one({"_id": position, "commit": commit_ids[0]})
    else:
        await database[OUTBOX].insert_one({"_id": position, "commits": commit_ids})


async def _entries_left(database: Any, layout: str) -> list[ObjectId]:
    if layout == LAYOUTS[0]:
        query = {"_id": {"$gte": ENTRY_PREFIX, "$lt": ENTRY_PREFIX + "~"}}
        return [
            ObjectId(e["_id"][len(ENTRY_PREFIX) :]) async for e in database[COMMITS].find(query)
        ]
    return [e["_id"] async for e in database[OUTBOX].find({})]


async def _clear_entries(database: Any) -> None:
    await database[COMMITS].delete_many(ENTRIES)
    await database[OUTBOX].delete_many({})


@pytest.fixture
async def database(settings: RuntimeSettings) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
    database = client[settings.database_name("store")]
    yield database
    await _clear_entries(database)
    await client.close()


@pytest.mark.parametrize("layout", LAYOUTS)
async def test_an_entry_naming_a_missing_commit_waits_then_hands_out_the_stored_ones(
    store: EventStore, database: Any, layout: str
) -> None:
    # As left by a process that died while writing a group: the entry and one commit
    # of two are stored.
    for age, stream in ((timedelta(0), "account-half"), (ABANDONED_AFTER, "account-old")):
        stream = f"{stream}-{LAYOUTS.index(layout)}"
        position = ObjectId.from_datetime(datetime.now(UTC) - age - timedelta(seconds=5))
        stored = commit_id(stream, 1)
        await _write_entry(database, layout, position, [stored, commit_id(f"{stream}-missing", 1)])
        await database[COMMITS].insert_one(
            {
                "_id": stored,
                "position": position,
                "stream": stream,
                "version": 1,
                "events": [event(stream).model_dump(mode="json")],
            }
        )
    # The recent one may still be on its way; the old one's stored commit goes out.
    handed_out = await store.unpublished(10)
    assert [c.id for c in handed_out] == [commit_id(f"account-old-{LAYOUTS.index(layout)}", 1)]
    store.mark_published(handed_out, swept=True)
    await store.marks_landed()
    assert len(await _entries_left(database, layout)) == 1


@pytest.mark.parametrize("layout", LAYOUTS)
async def test_an_outbox_entry_without_its_commit_is_discarded_once_abandoned(
    store: EventStore, database: Any, layout: str
) -> None:
    # As left by processes that died between writing the outbox entry and the commit:
    # one long ago, one a moment ago (its commit may still be on its way).
    long_ago = ObjectId.from_datetime(datetime.now(UTC) - ABANDONED_AFTER - timedelta(seconds=5))
    just_now = ObjectId()
    await _write_entry(database, layout, long_ago, [commit_id("account-gone", 1)])
    await _write_entry(database, layout, just_now, [commit_id("account-coming", 1)])
    assert await store.unpublished(10) == []
    await store.marks_landed()
    assert await _entries_left(database, layout) == [just_now]


@pytest.mark.parametrize("layout", LAYOUTS)
async def test_an_outbox_entry_whose_append_lost_the_race_is_discarded(
    store: EventStore, database: Any, layout: str
) -> None:
    # As left by a process that died right after losing a race: the commit under that
    # name is another append's, so this entry's events were never stored.
    winner = await store.append(f"account-race-{LAYOUTS.index(layout)}", 0, [event("winner")])
    store.mark_published([winner])
    await store.marks_landed()
    await _write_entry(database, layout, ObjectId(), [winner.id])
    assert await store.unpublished(10) == []
    await store.marks_landed()
    assert await _entries_left(database, layout) == []


async def test_a_commit_stored_after_its_caller_gave_up_still_reaches_the_relay(
    store: EventStore,
) -> None:
    # A handler cancelled (its service stopping) while its append is on its way: if the
    # commit is stored, the relay must hear of it, or it waits for another process's sweep.
    heard: list[Commit] = []
    store.on_commit(heard.append)
    appending = asyncio.create_task(store.append("account-given-up", 0, [event("late")]))
    await asyncio.sleep(0)  # handed to the group writer
    appending.cancel()

    await eventually(lambda: len(heard) == 1)
    stored = await store.read("account-given-up")
    assert [e.message_id for e in heard[0].events] == [e.message_id for e in stored]
