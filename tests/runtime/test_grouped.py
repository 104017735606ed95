"""Grouped writes on the real store: each caller's write lands, in fewer commands."""

import asyncio

import pytest
from pymongo import AsyncMongoClient, monitoring

from eventing.grouped import GroupedWrites
from eventing.settings import RuntimeSettings


class UpdateCommands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.sent = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent += event.command_name == "update"

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
def commands() -> UpdateCommands:
    return UpdateCommands()


@pytest.fixture
async def upserts(settings: RuntimeSettings, commands: UpdateCommands):
    client = AsyncMongoClient(settings.mongodb_url, event_listeners=[commands])
    collection = client[settings.database_name("grouped")]["attendees"]
    yield GroupedWrites(collection)
    await client.close()


async def test_concurrent_upserts_of_new_documents_all_land_in_fewer_commands(
    upserts: GroupedWrites, commands: UpdateCommands
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
    assert commands.sent < 40
