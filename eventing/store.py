"""The event store: one MongoDB document per append ("commit"), which is also the outbox.

A commit holds the events of one append to one stream. A unique index on
(stream, version) makes a multi-event append atomic without transactions and turns a
concurrent append at the same expected version into a clean :class:`ConcurrencyConflict`.
The ``published`` flag is the outbox: :mod:`eventing.relay` publishes commits whose flag
is still false and then sets it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts import Envelope

COMMITS = "commits"


class ConcurrencyConflict(Exception):
    """Another writer appended to the stream first; reload it and decide again."""

    def __init__(self, stream: str, expected_version: int) -> None:
        super().__init__(
            f"stream {stream!r} has moved past version {expected_version}: "
            "another writer appended first"
        )
        self.stream = stream
        self.expected_version = expected_version


@dataclass(frozen=True, slots=True)
class Commit:
    id: ObjectId
    stream: str
    version: int  # the stream's version after this commit
    events: tuple[Envelope, ...]

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Commit:
        return cls(
            id=document["_id"],
            stream=document["stream"],
            version=document["version"] + len(document["events"]) - 1,
            events=tuple(Envelope.model_validate(e) for e in document["events"]),
        )


class EventStore:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self._commits = database[COMMITS]
        self._listeners: list[Callable[[], None]] = []

    async def ensure_indexes(self) -> None:
        await self._commits.create_index(
            [("stream", ASCENDING), ("version", ASCENDING)], unique=True, name="stream_version"
        )
        await self._commits.create_index(
            [("published", ASCENDING), ("_id", ASCENDING)], name="outbox"
        )

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every successful append (the relay wakes up on it)."""
        self._listeners.append(listener)

    async def append(
        self, stream: str, expected_version: int, events: Sequence[Envelope]
    ) -> Commit:
        """Append ``events`` after ``expected_version`` (0 for a new stream), atomically.

        Raises :class:`ConcurrencyConflict` when the stream already has an event at
        ``expected_version + 1``.
        """
        if not events:
            raise ValueError("an append needs at least one event")
        first = expected_version + 1
        positioned = tuple(
            event.model_copy(update={"stream": stream, "version": first + offset})
            for offset, event in enumerate(events)
        )
        commit_id = ObjectId()
        document = {
            "_id": commit_id,
            "stream": stream,
            "version": first,
            "events": [event.model_dump(mode="json") for event in positioned],
            "published": False,
            "committed_at": datetime.now(UTC),
        }
        try:
            await self._commits.insert_one(document)
        except DuplicateKeyError:
            raise ConcurrencyConflict(stream, expected_version) from None
        for listener in self._listeners:
            listener()
        return Commit(
            id=commit_id, stream=stream, version=first + len(events) - 1, events=positioned
        )

    async def read(self, stream: str) -> list[Envelope]:
        """The stream's events in order (empty for a stream nobody wrote)."""
        cursor = self._commits.find({"stream": stream}, sort=[("version", 1)])
        return [
            event async for document in cursor for event in Commit.from_document(document).events
        ]

    async def version(self, stream: str) -> int:
        """The stream's current version: 0 when it has no events."""
        document = await self._commits.find_one(
            {"stream": stream}, sort=[("version", -1)], projection={"version": 1, "events": 1}
        )
        if document is None:
            return 0
        return int(document["version"]) + len(document["events"]) - 1

    async def unpublished(self, limit: int) -> list[Commit]:
        """The oldest commits the relay has not published yet."""
        cursor = self._commits.find({"published": False}, sort=[("_id", 1)], limit=limit)
        return [Commit.from_document(document) async for document in cursor]

    async def mark_published(self, commit_ids: Sequence[ObjectId]) -> None:
        if commit_ids:
            await self._commits.update_many(
                {"_id": {"$in": list(commit_ids)}}, {"$set": {"published": True}}
            )

    async def replay(self, batch_size: int = 1000) -> AsyncIterator[Commit]:
        """Every commit in append order (for rebuilding projections)."""
        cursor = self._commits.find({}, sort=[("_id", 1)], batch_size=batch_size)
        async for document in cursor:
            yield Commit.from_document(document)
