"""The event store: one MongoDB document per append ("commit"), and an outbox.

A commit holds the events of one append to one stream and is named after the stream and
its first version (``vote-v1:u1@1``). The unique ``_id`` makes a multi-event append
atomic without transactions and turns a concurrent append at the same expected version
into a clean :class:`ConcurrencyConflict`.

Every read is by ``_id``, the one key every MongoDB-wire server answers from an index
(FerretDB v1 scans for any other; the local build seeks an ``_id`` range with a shared
prefix too, see scripts/ferretdb): a whole stream is one range of ids, the commits after
a snapshot are read one by one, each naming the next.

Each event is kept as its JSON text, not as a subdocument: the store reads a commit only
whole, by ``_id``, and a MongoDB-wire server's work on a document grows with its fields
(FerretDB took 0.09-0.10 ms of CPU per vote commit stored as text, in inserts of twenty,
against 0.15-0.17 ms as subdocuments). Commits of the earlier layout, events as
subdocuments, are read as well (:func:`stored_event`).

The commits collection is also the outbox (:mod:`eventing.outbox`): the appends made at
the same moment by one process are written together in one insert, an entry naming
their commits first and then the commits, and publishing them deletes the entry.
:mod:`eventing.relay` publishes the commits of its own process as they are appended and
sweeps the outbox for the rest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts import Envelope
from eventing.outbox import ONLY_COMMITS, Outbox

COMMITS = "commits"
OUTBOX = "outbox"


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
    # Append order across streams, and the key of the commit's outbox entry.
    position: ObjectId

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Commit:
        return cls(
            id=document["_id"],
            position=document["position"],
            stream=document["stream"],
            version=document["version"] + len(document["events"]) - 1,
            events=tuple(map(stored_event, document["events"])),
        )


def stored_event(stored: str | dict[str, Any]) -> Envelope:
    """An event as a commit holds it: its JSON text, or (the earlier layout) a document."""
    if isinstance(stored, str):
        return Envelope.model_validate_json(stored)
    return Envelope.model_validate(stored)


class EventStore:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self._commits = database[COMMITS]
        # OUTBOX: the entries of an earlier layout, swept still.
        self._outbox = Outbox(self._commits, database[OUTBOX])
        self._listeners: list[Callable[[Commit], None]] = []

    async def ensure_indexes(self) -> None:
        # For replays on servers that use secondary indexes (MongoDB).
        await self._commits.create_index([("position", ASCENDING)], name="position")

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
        # Built by the group writer once the commit is stored (see eventing.outbox).
        appended: list[Commit] = []

        def stored(position: ObjectId) -> None:
            commit = Commit(
                id=id_,
                position=position,
                stream=stream,
                version=first + len(events) - 1,
                events=positioned,
            )
            appended.append(commit)
            for listener in self._listeners:
                listener(commit)

        document = {
            "_id": id_,
            "stream": stream,
            "version": first,
            "events": [event.model_dump_json() for event in positioned],
        }
        try:
            await self._outbox.insert(document, stored)
        except DuplicateKeyError:
            raise ConcurrencyConflict(stream, expected_version) from None
        return appended[0]

    async def appends_landed(self) -> None:
        """Until every append begun so far is stored or refused, including those whose
        callers stopped waiting: each stored one has reached the listeners by then."""
        await self._outbox.appended()

    async def marks_landed(self) -> None:
        """Until every commit marked published so far has its mark stored (or failed to:
        its commits are then published again by a sweep)."""
        await self._outbox.deleted()

    @property
    def database(self) -> AsyncDatabase[dict[str, Any]]:
        return self._commits.database

    async def _documents(self, stream: str, after: int = 0) -> list[dict[str, Any]]:
        if after == 0:
            return await self._whole_stream(stream)
        # After a snapshot, the few commits that follow it, each naming the next: a range
        # would make the server go over the whole stream's commits again.
        documents = []
        version = after + 1
        while document := await self._commits.find_one({"_id": commit_id(stream, version)}):
            documents.append(document)
            version += len(document["events"])
        return documents

    async def _whole_stream(self, stream: str) -> list[dict[str, Any]]:
        """Every commit of the stream in one round trip: its ids are the stream's name, "@"
        and a version, so they fall in one range of ``_id`` (":" sorts right after the
        digits). A stream whose own name goes on with "@" and digits shares the range, so
        the commits are told apart by their ``stream``."""
        in_range = self._commits.find(
            {"_id": {"$gte": f"{stream}@", "$lt": f"{stream}@:"}, "stream": stream}
        )
        return _chained([d async for d in in_range])

    async def read_streams(self, prefix: str) -> dict[str, list[Envelope]]:
        """Every stream whose name starts with ``prefix`` (``vote-<voting id>:``, say), its
        events in order: one range of ``_id``, read in one query. Not for a request path
        that runs often: it reads every commit of those streams."""
        if not prefix:
            raise ValueError("a prefix is needed: reading every stream is a replay")
        after_prefix = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        by_stream: dict[str, list[dict[str, Any]]] = {}
        async for document in self._commits.find({"_id": {"$gte": prefix, "$lt": after_prefix}}):
            by_stream.setdefault(document["stream"], []).append(document)
        return {
            stream: [
                event
                for document in _chained(documents)
                for event in Commit.from_document(document).events
            ]
            for stream, documents in by_stream.items()
        }

    async def read(self, stream: str, after: int = 0) -> list[Envelope]:
        """The stream's events in order (empty for a stream nobody wrote); only those
        after version ``after`` when that is where a commit ends."""
        return [
            event
            for document in await self._documents(stream, after)
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
        """The commits of the oldest outbox entries not published yet (of those written
        before a moment), entries whose appends lost their race or never happened
        discarded on the way (:mod:`eventing.outbox`)."""
        documents = await self._outbox.unpublished(limit, committed_before)
        return [Commit.from_document(document) for document in documents]

    def mark_published(self, commits: Sequence[Commit], *, swept: bool = False) -> None:
        """The commits are published (``swept``: handed out by :meth:`unpublished`); the
        mark is stored soon after, with others (:meth:`marks_landed`)."""
        self._outbox.published([(c.position, c.id) for c in commits], swept=swept)

    async def stored_between(
        self, since: datetime, until: datetime, after: str | None, limit: int
    ) -> tuple[list[Commit], str | None]:
        """A page of the commits stored in ``[since, until)`` (by their position: the
        second their group of appends was written), in position order, after the cursor
        ``after``; the page and the cursor of the next one (None after the last).

        For a once-a-day look back (the archive), not for a request path: MongoDB reads it
        from the ``position`` index, FerretDB scans the collection."""
        window: dict[str, Any] = {
            "position": {
                "$gte": ObjectId.from_datetime(since),
                "$lt": ObjectId.from_datetime(until),
            }
        }
        if after is not None:
            position, _, commit = after.partition("/")
            window = {
                "$and": [
                    window,
                    {
                        "$or": [
                            {"position": {"$gt": ObjectId(position)}},
                            {"position": ObjectId(position), "_id": {"$gt": commit}},
                        ]
                    },
                ]
            }
        cursor = self._commits.find(window, sort=[("position", 1), ("_id", 1)], limit=limit)
        commits = [Commit.from_document(document) async for document in cursor]
        last = commits[-1] if len(commits) == limit else None
        return commits, None if last is None else f"{last.position}/{last.id}"

    async def replay(self) -> AsyncIterator[Commit]:
        """Every commit, each stream's in order (for rebuilding projections)."""
        # By position; positions made by two processes in the same second need not follow
        # the appends, so a commit waits for its stream's previous one.
        next_version: dict[str, int] = {}
        waiting: dict[tuple[str, int], Commit] = {}
        async for document in self._commits.find(ONLY_COMMITS, sort=[("position", 1)]):
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


def _chained(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A stream's commits in order, only the unbroken chain from version 1, as when reading
    commit by commit (a commit can only be appended after the one it follows, so there is
    no gap)."""
    chained = []
    version = 1
    for document in sorted(documents, key=lambda d: int(d["version"])):
        if document["version"] != version:
            break
        chained.append(document)
        version += len(document["events"])
    return chained
