"""Read-model documents that carry the stream version they show."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from eventing.grouped import Document, GroupedInserts, GroupedWrites
from eventing.repository import A, Repository
from eventing.settings import cache_bounds
from eventing.store import EventStore

SHOW_ATTEMPTS = 10


class VersionedDocuments:
    """A read-model collection whose documents carry the stream version they show."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection
        self._inserts = GroupedInserts(collection)
        self._replaces = GroupedWrites(collection)
        # The version each document was last seen to show, by this process's read or
        # write: a version only grows (read models are only ever deleted whole, by clear()).
        self._known: dict[str, int] = {}
        # Past this many it forgets them all and asks the server again.
        self._known_at_most = cache_bounds().known_versions
        # This process's writes on their way, by document: the broker can bring an event
        # back before the write that shows it has been acknowledged.
        self._writing: dict[str, asyncio.Future[None]] = {}

    async def version(self, document_id: str) -> int:
        """The stream version the document shows; 0 when there is none."""
        document = await self.collection.find_one({"_id": document_id}, {"version": 1})
        if document is None:
            return 0
        version = int(document["version"])
        self._know(document_id, version)
        return version

    async def shows(self, document_id: str, version: int) -> bool:
        """Whether the document shows ``version`` or a newer one.

        Most events a projection is handed again were written by this process a moment
        before (the outbox relay shows each commit before publishing it): those are
        answered without asking the server.
        """
        if self._known.get(document_id, 0) >= version:
            return True
        if (writing := self._writing.get(document_id)) is not None:
            await asyncio.shield(writing)
            if self._known.get(document_id, 0) >= version:
                return True
        return await self.version(document_id) >= version

    async def clear(self) -> None:
        """Delete every document (before a rebuild)."""
        self._known.clear()
        await self.collection.delete_many({})

    def _know(self, document_id: str, version: int) -> None:
        if len(self._known) >= self._known_at_most and document_id not in self._known:
            self._known.clear()
        self._known[document_id] = version

    async def write(self, document_id: str, version: int, fields: Document) -> None:
        """Write the document as of ``version`` unless it already shows that version or a
        newer one.

        One (grouped) write, filtered on ``_id`` (the key every MongoDB-wire server seeks; see
        :mod:`eventing.store`): a document that shows an older version is replaced, a
        missing one inserted, and one as new or newer makes the insert a duplicate key.
        On a server whose conditional writes are not atomic (FerretDB) a slower writer can
        still land an older state; callers that must converge read the version back.
        """
        if self._known.get(document_id, 0) >= version:
            return
        if document_id in self._writing:
            await self._write(document_id, version, fields)
            return
        self._writing[document_id] = asyncio.get_running_loop().create_future()
        try:
            await self._write(document_id, version, fields)
        finally:
            self._writing.pop(document_id).set_result(None)

    async def _write(self, document_id: str, version: int, fields: Document) -> None:
        document = {**fields, "version": version}
        with contextlib.suppress(DuplicateKeyError):
            if version == 1:
                # A stream's first version, in one (grouped) insert: a document that
                # exists already shows version 1 or newer.
                await self._inserts.insert({"_id": document_id, **document})
            else:
                await self._replaces.replace(
                    {"_id": document_id, "version": {"$lt": version}}, document
                )
        if self._known.get(document_id, 0) < version:
            self._know(document_id, version)


async def show_newest(
    store: EventStore,
    repository: Repository[A],
    aggregate: A,
    write: Callable[[A], Awaitable[None]],
    shown: Callable[[str], Awaitable[int]],
) -> bool:
    """Write the aggregate's read model until it shows the newest state of its stream.

    Handlers run concurrently and the version check in :meth:`VersionedDocuments.write`
    is not atomic with its write, so an older state written at the same time can land
    over a newer one. Whoever wrote last sees the stream ahead of the read model and writes the
    newest state again. ``shown`` gives the version a read model shows. False when the
    read model still lags after a few rounds.
    """
    for _ in range(SHOW_ATTEMPTS):
        await write(aggregate)
        newest = not await store.has_commit_at(aggregate.stream, aggregate.version + 1)
        if newest and await shown(aggregate.id) >= aggregate.version:
            return True
        aggregate = await repository.get(aggregate.id) or aggregate
    return False
