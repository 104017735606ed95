"""Group commit: concurrent writes to one collection go to the server together.

A MongoDB-wire server spends most of a small write on the round trip and on its
per-command work (FerretDB runs a SQLite transaction per command), so one
``insert_many`` of fifty documents costs about what three ``insert_one`` calls do, on
the server and in the client. Callers still write one document and get that
document's own outcome; while one batch is on its way, the next one gathers, so batches
grow with the load and an idle process waits for nothing. Writes nobody waits for (a
published outbox entry's delete) may linger a moment to gather more.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError, WriteError

from eventing.logs import get_logger

log = get_logger(__name__)

Document = dict[str, Any]
Item = TypeVar("Item")
T = TypeVar("T")

DUPLICATE_KEY = 11000
# Documents per command: well under the 16 MiB message limit for documents of a few KiB.
MAX_BATCH = 500
# How long a write nobody waits for (a delete whose failure only leaves work for later)
# waits for others to go with it. Each process writes such a batch at most this often, so
# it sets how many deletes a process sends the store per second, whatever the load: at
# 0.1 s they were a delete command for every two paid votes with two processes of each.
LINGER_SECONDS = 0.5


class Grouped(Generic[Item]):
    """Items written in batches by one task at a time; each caller awaits its own."""

    def __init__(self, collection: AsyncCollection[Document], *, linger: float = 0.0) -> None:
        """``linger``: seconds each batch waits for more items before it is written."""
        self.collection = collection
        self._linger = linger
        self._waiting: list[tuple[Item, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        # Set by written(): whoever waits for the writes does not wait out the linger.
        self._hurry = asyncio.Event()

    async def _submit(self, item: Item) -> None:
        # A caller that gives up leaves its item in the batch: like a cancelled
        # insert_one, the write may or may not happen.
        await self._enqueue(item)

    def _enqueue(self, item: Item) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        return future

    async def written(self) -> None:
        """Until every item submitted so far has been written or has failed, whether or
        not its caller still waits (a stopping process lets the last writes land); a batch
        lingering for more is written at once."""
        while self._writer is not None and not self._writer.done():
            self._hurry.set()
            await asyncio.wait([self._writer])
        self._hurry.clear()

    async def _write_all(self) -> None:
        while self._waiting:
            if self._linger and not self._hurry.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._linger):
                        await self._hurry.wait()
            batch = self._waiting[:MAX_BATCH]
            del self._waiting[:MAX_BATCH]
            try:
                await self._write([item for item, _ in batch])
            except BulkWriteError as error:
                failed = {e["index"]: e for e in error.details.get("writeErrors", [])}
                for index, (_, future) in enumerate(batch):
                    if index in failed:
                        settle(future, _write_error(failed[index]))
                    else:
                        settle(future, None)
                continue
            except asyncio.CancelledError:
                for _, future in batch:
                    future.cancel()
                raise
            except Exception as error:  # noqa: BLE001 - every caller in the batch gets it
                for _, future in batch:
                    settle(future, error)
                continue
            for _, future in batch:
                settle(future, None)

    async def _write(self, items: Sequence[Item]) -> None:
        raise NotImplementedError


class GroupedInserts(Grouped[Document]):
    """``insert_one`` for many concurrent callers as one unordered ``insert_many``: a
    document whose ``_id`` exists raises :class:`DuplicateKeyError` for its caller alone."""

    async def insert(self, document: Document) -> None:
        await self._submit(document)

    async def _write(self, items: Sequence[Document]) -> None:
        await self.collection.insert_many(items, ordered=False)


@dataclass(frozen=True, slots=True)
class Change:
    """One idempotent write of one document: a delete (no ``update``), or an update or
    a replacement (``update`` without or with operators), inserting it if missing."""

    filter: Document
    update: Document | None = None


class GroupedWrites(Grouped[Change]):
    """Idempotent single-document deletes, updates and replaces for many concurrent
    callers as one ``delete`` and one ``update`` command. Each is by ``_id``, the key
    every server seeks: the deletes go as one statement naming their ids (``$in``; a
    statement costs a server about as much as the rows it touches, so fifty deletes cost
    about what two do), the others one statement each. An upsert that finds its ``_id``
    taken raises :class:`DuplicateKeyError` for its caller alone.

    FerretDB v1 does not honour ``ordered: false`` for updates: it stops at the first
    statement that fails, skips the rest without a word, and leaves out the counts
    pymongo's bulk API needs. So the commands are sent as they are, and from the first
    failed statement on each is sent again on its own: every change here is idempotent,
    so doing one twice is harmless.
    """

    async def delete(self, document_id: Any) -> None:
        await self._submit(Change({"_id": document_id}))

    async def delete_many(self, document_ids: Sequence[Any]) -> None:
        await asyncio.gather(*(self.delete(document_id) for document_id in document_ids))

    def delete_later(self, document_ids: Sequence[Any]) -> None:
        """Delete the documents with the next batch, without waiting for it: for
        deletes whose failure only leaves work for later (:meth:`written` waits for
        them). A failure is logged."""
        for document_id in document_ids:
            self._enqueue(Change({"_id": document_id})).add_done_callback(_log_failure)

    async def replace(self, filter: Document, document: Document) -> None:
        """Replace the document ``filter`` matches, or insert it: a ``filter`` that holds
        more than the ``_id`` makes an existing document it does not match a duplicate
        key."""
        await self._submit(Change(filter, document))

    async def upsert(self, document_id: Any, update: Document) -> None:
        """An idempotent update (set a flag, add to a set) of a document that may not
        exist yet. Two writers may both try to insert it: the loser is sent again, as
        the update of a document that now exists."""
        try:
            await self._submit(Change({"_id": document_id}, update))
        except DuplicateKeyError:
            await self._submit(Change({"_id": document_id}, update))

    async def _write(self, items: Sequence[Change]) -> None:
        deletes = [(i, c) for i, c in enumerate(items) if c.update is None]
        updates = [(i, c) for i, c in enumerate(items) if c.update is not None]
        errors: list[dict[str, Any]] = []
        for command, key, changes, statements in (
            ("delete", "deletes", deletes, [_deletes(change for _, change in deletes)]),
            ("update", "updates", updates, [_statement(change) for _, change in updates]),
        ):
            if not changes:
                continue
            reply = await self._run(command, key, statements, ordered=False)
            failed = reply.get("writeErrors") or []
            if not failed:
                continue
            first = min(int(error["index"]) for error in failed)
            for index, change in changes[first:]:
                one = await self._run(command, key, [_statement(change)], ordered=True)
                errors.extend({**e, "index": index} for e in one.get("writeErrors") or [])
        if errors:
            raise BulkWriteError({"writeErrors": errors})

    async def _run(
        self, command: str, key: str, statements: list[Document], *, ordered: bool
    ) -> Document:
        return await self.collection.database.command(
            {command: self.collection.name, key: statements, "ordered": ordered}
        )


def _deletes(changes: Iterable[Change]) -> Document:
    """One statement deleting every document the changes name (a delete never fails by
    itself, so no caller's outcome is lost by sharing it)."""
    return {"q": {"_id": {"$in": [change.filter["_id"] for change in changes]}}, "limit": 0}


def _statement(change: Change) -> Document:
    if change.update is None:
        return {"q": change.filter, "limit": 1}
    return {"q": change.filter, "u": change.update, "upsert": True}


def _log_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and (error := future.exception()) is not None:
        log.warning("a delete nobody waited for failed", error=repr(error))


def _write_error(details: dict[str, Any]) -> WriteError:
    kind = DuplicateKeyError if details.get("code") == DUPLICATE_KEY else WriteError
    return kind(details.get("errmsg", "write failed"), details.get("code"), details)


def settle(future: asyncio.Future[T], outcome: T | BaseException) -> None:
    """Give a waiting caller its result or its error, unless it has stopped waiting."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


async def insert_missing(
    collection: AsyncCollection[Document], documents: Sequence[Document]
) -> int:
    """Insert the documents whose ``_id`` is not there yet, in unordered batches; how many
    were new. The once-only write of work that may be done again (a redelivery)."""
    inserted = 0
    for start in range(0, len(documents), MAX_BATCH):
        batch = documents[start : start + MAX_BATCH]
        try:
            await collection.insert_many(batch, ordered=False)
            inserted += len(batch)
        except BulkWriteError as error:
            errors = error.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            inserted += len(batch) - len(errors)
    return inserted
