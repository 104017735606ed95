"""Grouped writes on the real store: each caller's write lands, in fewer commands."""

import asyncio

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from eventing.grouped import GroupedWrites
from eventing.settings import RuntimeSettings
from tests.support import SentCommands


@pytest.fixture
def commands() -> SentCommands:
    return SentCommands()


@pytest.fixture
async def upserts(settings: RuntimeSettings, commands: SentCommands):
    client = AsyncMongoClient(settings.mongodb_url, event_listeners=[commands])
    collection = client[settings.database_name("grouped")]["attendees"]
    yield GroupedWrites(collection)
    await client.close()


async def test_concurrent_upserts_of_new_documents_all_land_in_fewer_commands(
    upserts: GroupedWrites, commands: SentCommands
) -> None:
    # Four callers per new document, all at once: some of them race to insert it.
    await asyncio.gather(
        *(
            upserts.upsert(f"voting-1:user-{user}", {"$addToSet": {"seen": caller}})
            for caller in range(4)
            for user in range(10)
        )
    )

    documents = [d async for d in upserts.collection.find({}, sort=[("_id", 1)])]
    assert [d["_id"] for d in documents] == sorted(f"voting-1:user-{u}" for u in range(10))
    assert all(sorted(d["seen"]) == [0, 1, 2, 3] for d in documents)
    assert commands.names.count("update") < 40


async def test_a_refused_write_in_a_batch_does_not_drop_the_ones_after_it(
    upserts: GroupedWrites,
) -> None:
    # FerretDB stops an unordered update at the first failing statement and skips the
    # rest without saying so: the ones after it must land all the same.
    await upserts.collection.insert_one({"_id": "ballot-a", "version": 3})

    outcomes = await asyncio.gather(
        upserts.replace({"_id": "ballot-a", "version": {"$lt": 2}}, {"version": 2}),
        *(
            upserts.replace({"_id": f"ballot-{n}", "version": {"$lt": 1}}, {"version": 1})
            for n in range(5)
        ),
        upserts.upsert("ballot-a", {"$set": {"seen": True}}),
        return_exceptions=True,
    )

    assert isinstance(outcomes[0], DuplicateKeyError)  # a newer version is shown already
    assert outcomes[1:] == [None] * 6
    documents = {d["_id"]: d async for d in upserts.collection.find({})}
    assert documents["ballot-a"] == {"_id": "ballot-a", "version": 3, "seen": True}
    assert all(documents[f"ballot-{n}"]["version"] == 1 for n in range(5))


async def test_waiting_for_the_writes_does_not_wait_out_their_linger(
    settings: RuntimeSettings,
) -> None:
    client = AsyncMongoClient(settings.mongodb_url)
    try:
        collection = client[settings.database_name("grouped")]["lingering"]
        deletes = GroupedWrites(collection, linger=3600)
        await collection.insert_one({"_id": "gone"})
        deletes.delete_later(["gone"])
        # A stopping process waits for its last writes: they go at once, not in an hour.
        async with asyncio.timeout(10):
            await deletes.written()
        assert await collection.count_documents({}) == 0
    finally:
        await client.close()
