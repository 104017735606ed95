"""The outbox: the commits still to be published, one entry per group of appends.

Concurrent appends of one process go to the server together (:mod:`eventing.grouped`):
first an outbox entry naming the group's commits, then the commits in one unordered
insert. Each commit carries the entry's key as its ``position``: an ObjectId, the
moment of the append and the order of replays. A group of N appends costs one entry
written and deleted, not N.

Invariants:

- An entry is stored before any commit it names, so every stored commit that is not
  published yet is named by an entry (a crash in between leaves an entry naming
  commits that never came).
- Every commit stored is handed to the store's listeners (the relay) by the writer,
  not by its caller, so one whose caller stopped waiting (a stopping service cancels its
  handlers) is published by this process too.
- An entry is deleted only once every commit it names is published or is not its own:
  the commit under that name has another position when that append lost its race.
- A sweep (:meth:`Outbox.unpublished`) hands out the commits of whole entries, so the
  entry can go once they are published. An entry naming a commit that is missing is
  left alone until ``ABANDONED_AFTER`` (its process died between the two writes); then
  its stored commits are handed out and it goes.

Entries of the earlier layout (``commit``: one commit each) are read as groups of one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from eventing.grouped import MAX_BATCH, Document, Grouped, GroupedWrites

# An entry naming a commit still missing this long after the entry was written belongs
# to appends that never happened (their process died between the two writes).
ABANDONED_AFTER = timedelta(minutes=1)


class Outbox:
    def __init__(
        self, outbox: AsyncCollection[Document], commits: AsyncCollection[Document]
    ) -> None:
        self._entries = outbox
        self._commits = commits
        # This process's entries not deleted yet: the ids of their stored commits still
        # to be published. As many as the relay has commits waiting.
        self._to_publish: dict[ObjectId, set[str]] = {}
        self._appends = _GroupedAppends(commits, outbox, self._to_publish)
        self._deletes = GroupedWrites(outbox)

    async def insert(self, commit: Document, stored: Callable[[ObjectId], None]) -> None:
        """Store the commit document (``_id``, ``stream``, ``version``, ``events``) with
        the others being appended now, named by one entry. ``stored`` is called with its
        position once it is stored, even if the caller has stopped waiting by then (a
        stored commit must reach the relay). Raises
        :class:`pymongo.errors.DuplicateKeyError` when a commit of that ``_id`` exists."""
        await self._appends.insert((commit, stored))

    async def appended(self) -> None:
        """Until every commit handed to :meth:`insert` so far is stored or refused."""
        await self._appends.written()

    async def unpublished(
        self, limit: int, committed_before: datetime | None = None
    ) -> list[Document]:
        """The commits named by the oldest ``limit`` entries (of those written before a
        moment), whole entries at a time; entries with nothing left to publish are
        discarded on the way."""
        query: Document = {}
        if committed_before is not None:
            query["_id"] = {"$lt": ObjectId.from_datetime(committed_before)}
        entries = [e async for e in self._entries.find(query, sort=[("_id", 1)], limit=limit)]
        named = [(entry, commit_id) for entry in entries for commit_id in _named(entry)]
        stored = await self._stored_commits([commit_id for _, commit_id in named])
        documents = [stored.get(commit_id) for _, commit_id in named]
        found: dict[ObjectId, list[Document | None]] = {entry["_id"]: [] for entry in entries}
        for (entry, _), document in zip(named, documents, strict=True):
            found[entry["_id"]].append(document)
        abandoned_before = datetime.now(UTC) - ABANDONED_AFTER
        commits: list[Document] = []
        discarded: list[ObjectId] = []
        for position, documents_named in found.items():
            own = list(
                {
                    d["_id"]: d
                    for d in documents_named
                    if d is not None and d["position"] == position
                }.values()
            )
            missing = any(d is None for d in documents_named)
            if missing and position.generation_time >= abandoned_before:
                continue  # the rest of its appends may still be on their way
            if own:
                commits.extend(own)
            else:
                discarded.append(position)
        await self._deletes.delete_many(discarded)
        return commits

    async def _stored_commits(self, commit_ids: list[Any]) -> dict[Any, Document]:
        """The commits of these ids that are stored, by id: a query per batch of ids."""
        unique = list(dict.fromkeys(commit_ids))
        stored: dict[Any, Document] = {}
        for start in range(0, len(unique), MAX_BATCH):
            query = {"_id": {"$in": unique[start : start + MAX_BATCH]}}
            async for commit in self._commits.find(query):
                stored[commit["_id"]] = commit
        return stored

    async def published(self, commits: Sequence[tuple[ObjectId, str]], *, swept: bool) -> None:
        """These commits (position, id) are published: delete the entries with nothing
        left to publish. Commits a sweep handed out are their entries' all."""
        done: set[ObjectId] = set()
        for position, commit_id in commits:
            left = self._to_publish.get(position)
            if swept or left is None:
                self._to_publish.pop(position, None)
                done.add(position)
                continue
            left.discard(commit_id)
            if not left:
                del self._to_publish[position]
                done.add(position)
        await self._deletes.delete_many(sorted(done))


class _GroupedAppends(Grouped[tuple[Document, Callable[[ObjectId], None]]]):
    """Commits of concurrent appends as one entry and one unordered insert."""

    def __init__(
        self,
        commits: AsyncCollection[Document],
        entries: AsyncCollection[Document],
        to_publish: dict[ObjectId, set[str]],
    ) -> None:
        super().__init__(commits)
        self._entries = entries
        self._to_publish = to_publish

    async def insert(self, item: tuple[Document, Callable[[ObjectId], None]]) -> None:
        await self._submit(item)

    async def _write(self, items: Sequence[tuple[Document, Callable[[ObjectId], None]]]) -> None:
        position = ObjectId()
        commits = [commit for commit, _ in items]
        for commit in commits:
            commit["position"] = position
        ids = [str(commit["_id"]) for commit in commits]
        await self._entries.insert_one({"_id": position, "commits": ids})
        # A failure other than a write error leaves the outcome unknown: the entry stays,
        # for the sweep.
        try:
            await self.collection.insert_many(commits, ordered=False)
        except BulkWriteError as error:
            failed = {e["index"] for e in error.details.get("writeErrors", [])}
            stored = [index for index in range(len(ids)) if index not in failed]
            if not stored:
                await self._entries.delete_one({"_id": position})
            self._stored(position, items, ids, stored)
            raise
        self._stored(position, items, ids, range(len(ids)))

    def _stored(
        self,
        position: ObjectId,
        items: Sequence[tuple[Document, Callable[[ObjectId], None]]],
        ids: list[str],
        stored: Iterable[int],
    ) -> None:
        indexes = list(stored)
        if indexes:
            self._to_publish[position] = {ids[index] for index in indexes}
        for index in indexes:
            items[index][1](position)


def _named(entry: Document) -> list[Any]:
    return list(entry["commits"]) if "commits" in entry else [entry["commit"]]
