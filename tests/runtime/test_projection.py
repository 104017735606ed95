"""Read-model documents that carry the version they show, on the real store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from eventing.projection import VersionedDocuments
from eventing.settings import RuntimeSettings, cache_bounds


@pytest.fixture
async def tiles(settings: RuntimeSettings) -> AsyncIterator[AsyncCollection[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url)
    yield client[settings.database_name("voting")]["tiles"]
    await client.close()


class CountedReads:
    def __init__(self, documents: VersionedDocuments, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        find_one = documents.collection.find_one

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return await find_one(*args, **kwargs)

        monkeypatch.setattr(documents.collection, "find_one", counted)


async def test_what_this_process_wrote_is_known_without_asking_the_server(
    tiles: AsyncCollection[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    here = VersionedDocuments(tiles)
    await here.write("v1", 1, {"title": "first"})
    await here.write("v1", 2, {"title": "second"})
    reads = CountedReads(here, monkeypatch)

    # The events coming back from the broker: shown already, no round trip each.
    assert await here.shows("v1", 1)
    assert await here.shows("v1", 2)
    assert reads.count == 0
    # A newer version than this process wrote is asked for.
    assert not await here.shows("v1", 3)
    assert reads.count == 1


async def test_what_another_process_wrote_is_read_from_the_server(
    tiles: AsyncCollection[dict[str, Any]],
) -> None:
    here, there = VersionedDocuments(tiles), VersionedDocuments(tiles)
    await here.write("v1", 1, {"title": "first"})
    await there.write("v1", 3, {"title": "third"})

    assert await here.shows("v1", 3)
    assert not await here.shows("v1", 4)
    # An older write arriving late changes nothing.
    await here.write("v1", 2, {"title": "second"})
    document = await tiles.find_one({"_id": "v1"})
    assert document is not None and (document["title"], document["version"]) == ("third", 3)


@pytest.fixture
def two_known_versions(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LIVEVOTE_KNOWN_VERSIONS", "2")
    cache_bounds.cache_clear()
    yield
    cache_bounds.cache_clear()


@pytest.mark.usefixtures("two_known_versions")
async def test_the_known_versions_are_bounded(
    tiles: AsyncCollection[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    here = VersionedDocuments(tiles)
    for n in range(3):
        await here.write(f"v{n}", 1, {"title": str(n)})
    reads = CountedReads(here, monkeypatch)

    # The third write forgot the first two; they are still shown, as the server says.
    assert await here.shows("v0", 1)
    assert reads.count == 1
