import asyncio

import pytest
from pymongo import AsyncMongoClient

from contracts import Envelope
from contracts.wallet import AccountOpened
from eventing.settings import RuntimeSettings
from eventing.store import Commit, ConcurrencyConflict, EventStore


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
