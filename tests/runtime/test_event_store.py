import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient

from contracts import Envelope
from contracts.wallet import AccountOpened
from eventing.outbox import ABANDONED_AFTER
from eventing.settings import RuntimeSettings
from eventing.store import (
    OUTBOX,
    Commit,
    ConcurrencyConflict,
    EventStore,
    commit_id,
)
from tests.support import eventually


@pytest.fixture
async def store(settings: RuntimeSettings):
    client = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
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
    await store.mark_published(waiting)
    assert await store.unpublished(100) == []


async def test_appends_made_at_once_leave_the_outbox_only_when_all_are_published(
    store: EventStore, settings: RuntimeSettings
) -> None:
    client = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
    outbox = client[settings.database_name("store")][OUTBOX]
    try:
        commits = await asyncio.gather(
            *(store.append(f"account-group-{n}", 0, [event(str(n))]) for n in range(20))
        )
        entries = await outbox.count_documents({})
        assert 1 <= entries < 20  # written together: fewer entries than appends

        # Published but for the last: what a sweep finds now still includes it, so a
        # process dying here loses nothing (the others go out again, deduplicated).
        await store.mark_published(commits[:-1])
        assert commits[-1].id in {c.id for c in await store.unpublished(100)}

        await store.mark_published(commits[-1:])
        assert await outbox.count_documents({}) == 0
        assert await store.unpublished(100) == []
    finally:
        await outbox.delete_many({})
        await client.close()


async def test_an_entry_naming_a_missing_commit_waits_then_hands_out_the_stored_ones(
    store: EventStore, settings: RuntimeSettings
) -> None:
    # As left by a process that died while writing a group: the entry and one commit
    # of two are stored.
    client = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
    database = client[settings.database_name("store")]
    try:
        for age, stream in ((timedelta(0), "account-half"), (ABANDONED_AFTER, "account-old")):
            position = ObjectId.from_datetime(datetime.now(UTC) - age - timedelta(seconds=5))
            stored = commit_id(stream, 1)
            await database[OUTBOX].insert_one(
                {"_id": position, "commits": [stored, commit_id(f"{stream}-missing", 1)]}
            )
            await database["commits"].insert_one(
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
        assert [c.id for c in handed_out] == [commit_id("account-old", 1)]
        await store.mark_published(handed_out, swept=True)
        assert await database[OUTBOX].count_documents({}) == 1
    finally:
        await database[OUTBOX].delete_many({})
        await client.close()


async def test_an_outbox_entry_without_its_commit_is_discarded_once_abandoned(
    store: EventStore, settings: RuntimeSettings
) -> None:
    # As left by processes that died between writing the outbox entry and the commit:
    # one long ago, one a moment ago (its commit may still be on its way).
    client = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
    outbox = client[settings.database_name("store")][OUTBOX]
    long_ago = ObjectId.from_datetime(datetime.now(UTC) - ABANDONED_AFTER - timedelta(seconds=5))
    just_now = ObjectId()
    await outbox.insert_many(
        [
            {"_id": long_ago, "commit": commit_id("account-gone", 1)},
            {"_id": just_now, "commit": commit_id("account-coming", 1)},
        ]
    )
    try:
        assert await store.unpublished(10) == []
        assert [e["_id"] async for e in outbox.find({})] == [just_now]
    finally:
        await outbox.delete_many({})
        await client.close()


async def test_an_outbox_entry_whose_append_lost_the_race_is_discarded(
    store: EventStore, settings: RuntimeSettings
) -> None:
    # As left by a process that died right after losing a race: the commit under that
    # name is another append's, so this entry's events were never stored.
    winner = await store.append("account-race", 0, [event("winner")])
    await store.mark_published([winner])
    client = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
    outbox = client[settings.database_name("store")][OUTBOX]
    try:
        await outbox.insert_one({"_id": ObjectId(), "commit": winner.id})
        assert await store.unpublished(10) == []
        assert await outbox.count_documents({}) == 0
    finally:
        await client.close()


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
