from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from eventing.settings import RuntimeSettings
from eventing.store import EventStore
from tests.support import SentCommands


@pytest.fixture
async def recorded(settings: RuntimeSettings) -> AsyncIterator[tuple[EventStore, SentCommands]]:
    """A store whose client's commands are recorded."""
    commands = SentCommands()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongodb_url, tz_aware=True, event_listeners=[commands]
    )
    yield EventStore(client[settings.database_name("store")]), commands
    await client.close()
