"""The event store: one MongoDB document per append ("commit"), which is also the outbox.

A commit holds the events of one append to one stream and is named after the stream and
its first version (``vote-v1:u1@1``). The unique ``_id`` makes a multi-event append
atomic without transactions and turns a concurrent append at the same expected version
into a clean :class:`ConcurrencyConflict`.

Every read is a lookup by ``_id``: a stream is read commit by commit, each naming the
next. It is the one filter every MongoDB-wire server answers from an index (FerretDB v1
scans for any other).

The ``published`` flag is the outbox: :mod:`eventing.relay` publishes the commits of its
own process as they are appended, and sweeps for commits whose flag stayed false.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
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


def commit_id(stream: str, first_version: int) -> str:
    return f"{stream}@{first_version}"


@dataclass(frozen=True, slots=True)
class Commit:
    id: str
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
        self._listeners: list[Callable[[Commit], None]] = []

    async def ensure_indexes(self) -> None:
        # For the relay's sweep on servers that use secondary indexes (MongoDB).
        await self._commits.create_index(
            [("published", ASCENDING), ("position", ASCENDING)], name="outbox"
        )

    def on_commit(self, listener: Callable[[Commit], None]) -> None:
        """Call ``listener`` with every commit this store appends (the relay publishes it)."""
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
        id_ = commit_id(stream, first)
        document = {
            "_id": id_,
            # Append order across streams, for replays and the relay's sweep.
            "position": ObjectId(),
            "stream": stream,
            "version": first,
            "events": [event.model_dump(mode="json") for event in positioned],
            "published": False,
        }
        try:
            await self._commits.insert_one(document)
        except DuplicateKeyError:
            raise ConcurrencyConflict(stream, expected_version) from None
        commit = Commit(id=id_, stream=stream, version=first + len(events) - 1, events=positioned)
        for listener in self._listeners:
            listener(commit)
        return commit

    async def _documents(self, stream: str) -> list[dict[str, Any]]:
        documents = []
        version = 1
        while document := await self._commits.find_one({"_id": commit_id(stream, version)}):
            documents.append(document)
            version += len(document["events"])
        return documents

    async def read(self, stream: str) -> list[Envelope]:
        """The stream's events in order (empty for a stream nobody wrote)."""
        return [
            event
            for document in await self._documents(stream)
            for event in Commit.from_document(document).events
        ]

    async def has_commit_at(self, stream: str, version: int) -> bool:
        """Whether a commit starts at ``version``: after a commit ending at V, the stream
        has moved on exactly when one starts at V + 1."""
        found = await self._commits.find_one({"_id": commit_id(stream, version)}, {"_id": 1})
        return found is not None

    async def version(self, stream: str) -> int:
        """The stream's current version: 0 when it has no events."""
        return sum(len(document["events"]) for document in await self._documents(stream))

    async def unpublished(
        self, limit: int, committed_before: datetime | None = None
    ) -> list[Commit]:
        """The oldest commits not published yet (of those committed before a moment)."""
        query: dict[str, Any] = {"published": False}
        if committed_before is not None:
            # A position is an ObjectId: it carries the moment of its append.
            query["position"] = {"$lt": ObjectId.from_datetime(committed_before)}
        cursor = self._commits.find(query, sort=[("position", 1)], limit=limit)
        return [Commit.from_document(document) async for document in cursor]

    async def mark_published(self, commits: Sequence[Commit]) -> None:
        # One update per commit, by _id alone: the cheapest filter on every server.
        await asyncio.gather(
            *(
                self._commits.update_one({"_id": commit.id}, {"$set": {"published": True}})
                for commit in commits
            )
        )

    async def replay(self) -> AsyncIterator[Commit]:
        """Every commit, each stream's in order (for rebuilding projections)."""
        # By position; positions made by two processes in the same second need not follow
        # the appends, so a commit waits for its stream's previous one.
        next_version: dict[str, int] = {}
        waiting: dict[tuple[str, int], Commit] = {}
        async for document in self._commits.find({}, sort=[("position", 1)]):
            commit = Commit.from_document(document)
            first = commit.version - len(commit.events) + 1
            if first != next_version.get(commit.stream, 1):
                waiting[(commit.stream, first)] = commit
                continue
            ready: Commit | None = commit
            while ready is not None:
                yield ready
                next_version[ready.stream] = ready.version + 1
                ready = waiting.pop((ready.stream, ready.version + 1), None)
        # Only a stream with a gap leaves commits waiting; they are not kept from a rebuild.
        for left in sorted(waiting.values(), key=lambda c: (c.stream, c.version)):
            yield left
