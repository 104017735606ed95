"""The outbox: the commits still to be published, one entry per group of appends.

Concurrent appends of one process go to the server together (:mod:`eventing.grouped`)
as one ordered insert into the commits collection: first an entry naming the group's
commits, then the commits. Each commit carries the entry's key as its ``position``: an
ObjectId, the moment of the append and the order of replays. The entry is stored among
the commits under ``~outbox:<position>``, a name no stream has, so the collection of
commits is the outbox too: a group of N appends is one insert, and the sweep reads the
entries as one range of ``_id``, the key every server seeks.

Invariants:

- An entry is stored before any commit it names (the insert is ordered), so every
  stored commit that is not published yet is named by an entry (a server that fails
  mid-insert leaves an entry naming commits that never came).
- Every commit stored is handed to the store's listeners (the relay) by the writer,
  not by its caller, so one whose caller stopped waiting (a stopping service cancels its
  handlers) is published by this process too.
- An entry is deleted only once every commit it names is published or is not its own:
  the commit under that name has another position when that append lost its race. The
  delete goes with the next ones made within ``LINGER`` (one statement for them all);
  a process that dies in between has those commits published again by the sweep.
- A sweep (:meth:`Outbox.unpublished`) hands out the commits of whole entries, so the
  entry can go once they are published. An entry naming a commit that is missing is
  left alone until ``ABANDONED_AFTER`` (its process died between the two writes); then
  its stored commits are handed out and it goes.

Entries of earlier layouts, in a collection of their own (``commits``: a group,
``commit``: one), are swept as well, and deleted there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, WriteError

from eventing.grouped import (
    DUPLICATE_KEY,
    LINGER_SECONDS,
    MAX_BATCH,
    Document,
    Grouped,
    GroupedWrites,
)

# An entry naming a commit still missing this long after the entry was written belongs
# to appends that never happened (their process died between the two writes).
ABANDONED_AFTER = timedelta(minutes=1)
# Entries sort after every stream's commits ("~" follows the letters) and among
# themselves by position (24 hexadecimal digits).
ENTRY_PREFIX = "~outbox:"
_ENTRIES_END = "~outbox;"
# The entries among the commits.
ENTRIES: Document = {"_id": {"$gte": ENTRY_PREFIX, "$lt": _ENTRIES_END}}
# The commits, without the entries among them.
ONLY_COMMITS: Document = {"position": {"$exists": True}}


def entry_id(position: ObjectId) -> str:
    return f"{ENTRY_PREFIX}{position}"


@dataclass(frozen=True, slots=True)
class _Entry:
    position: ObjectId
    commit_ids: list[Any]


class Outbox:
    def __init__(
        self, commits: AsyncCollection[Document], earlier: AsyncCollection[Document]
    ) -> None:
        self._commits = commits
        self._earlier = earlier
        # This process's entries not deleted yet: the ids of their stored commits still
        # to be published. As many as the relay has commits waiting.
        self._to_publish: dict[ObjectId, set[str]] = {}
        self._appends = _GroupedAppends(commits, self._to_publish)
        # A published entry's delete waits for others to go with it: far less than the
        # sweep's grace, so a live process's sweep never hands its commits out again.
        self._entry_deletes = GroupedWrites(commits, linger=LINGER_SECONDS)
        self._earlier_deletes = GroupedWrites(earlier)

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

    async def deleted(self) -> None:
        """Until every entry found published so far is deleted (or failed to be)."""
        await self._entry_deletes.written()
        await self._earlier_deletes.written()

    async def unpublished(
        self, limit: int, committed_before: datetime | None = None
    ) -> list[Document]:
        """The commits named by the oldest ``limit`` entries (of those written before a
        moment), whole entries at a time; entries with nothing left to publish are
        discarded on the way."""
        earlier = await self._earlier_entries(limit, committed_before)
        entries = earlier + await self._entries(limit - len(earlier), committed_before)
        stored = await self._stored_commits([i for entry in entries for i in entry.commit_ids])
        abandoned_before = datetime.now(UTC) - ABANDONED_AFTER
        commits: list[Document] = []
        discarded: list[ObjectId] = []
        for entry in entries:
            named = [stored.get(commit_id) for commit_id in entry.commit_ids]
            own = list(
                {
                    d["_id"]: d for d in named if d is not None and d["position"] == entry.position
                }.values()
            )
            missing = any(d is None for d in named)
            if missing and entry.position.generation_time >= abandoned_before:
                continue  # the rest of its appends may still be on their way
            if own:
                commits.extend(own)
            else:
                discarded.append(entry.position)
        self._delete_entries(discarded, earlier=bool(earlier))
        return commits

    async def _entries(self, limit: int, committed_before: datetime | None) -> list[_Entry]:
        if limit <= 0:
            return []
        query = ENTRIES
        if committed_before is not None:
            end = entry_id(ObjectId.from_datetime(committed_before))
            query = {"_id": {"$gte": ENTRY_PREFIX, "$lt": end}}
        return [
            _Entry(ObjectId(entry["_id"].removeprefix(ENTRY_PREFIX)), list(entry["commits"]))
            async for entry in self._commits.find(query, sort=[("_id", 1)], limit=limit)
        ]

    async def _earlier_entries(self, limit: int, committed_before: datetime | None) -> list[_Entry]:
        query: Document = {}
        if committed_before is not None:
            query["_id"] = {"$lt": ObjectId.from_datetime(committed_before)}
        return [
            _Entry(
                entry["_id"], list(entry["commits"]) if "commits" in entry else [entry["commit"]]
            )
            async for entry in self._earlier.find(query, sort=[("_id", 1)], limit=limit)
        ]

    async def _stored_commits(self, commit_ids: list[Any]) -> dict[Any, Document]:
        """The commits of these ids that are stored, by id: a query per batch of ids."""
        unique = list(dict.fromkeys(commit_ids))
        stored: dict[Any, Document] = {}
        for start in range(0, len(unique), MAX_BATCH):
            query = {"_id": {"$in": unique[start : start + MAX_BATCH]}}
            async for commit in self._commits.find(query):
                stored[commit["_id"]] = commit
        return stored

    def published(self, commits: Sequence[tuple[ObjectId, str]], *, swept: bool) -> None:
        """These commits (position, id) are published: delete the entries with nothing
        left to publish, soon. Commits a sweep handed out are their entries' all."""
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
        self._delete_entries(sorted(done), earlier=swept)

    def _delete_entries(self, positions: Sequence[ObjectId], *, earlier: bool) -> None:
        """Delete these entries with the next batch (``earlier``: wherever they are)."""
        self._entry_deletes.delete_later([entry_id(position) for position in positions])
        if earlier:
            self._earlier_deletes.delete_later(positions)


class _GroupedAppends(Grouped[tuple[Document, Callable[[ObjectId], None]]]):
    """Commits of concurrent appends as one ordered insert, their entry first."""

    def __init__(
        self, commits: AsyncCollection[Document], to_publish: dict[ObjectId, set[str]]
    ) -> None:
        super().__init__(commits)
        self._to_publish = to_publish

    async def insert(self, item: tuple[Document, Callable[[ObjectId], None]]) -> None:
        await self._submit(item)

    async def _write(self, items: Sequence[tuple[Document, Callable[[ObjectId], None]]]) -> None:
        position = ObjectId()
        ids = [str(commit["_id"]) for commit, _ in items]
        # Two appends at one version in one group: the first goes, the others lose.
        first_of = {commit_id: index for index, commit_id in reversed(list(enumerate(ids)))}
        sent = sorted(first_of.values())
        refused = {i: _duplicate(ids[i]) for i in range(len(ids)) if first_of[ids[i]] != i}
        commits = [items[index][0] for index in sent]
        for commit in commits:
            commit["position"] = position
        entry = {"_id": entry_id(position), "commits": [ids[index] for index in sent]}
        # A failure other than a write error leaves the outcome unknown: the entry (if
        # stored) stays, for the sweep.
        try:
            await self.collection.insert_many([entry, *commits], ordered=True)
        except BulkWriteError as error:
            failed = await self._refused(position, commits, error)
            refused |= {sent[index]: details for index, details in failed.items()}
        stored = [index for index in range(len(ids)) if index not in refused]
        if not stored:
            await self.collection.delete_one({"_id": entry["_id"]})
        self._stored(position, items, ids, stored)
        if refused:
            errors = [{**details, "index": index} for index, details in sorted(refused.items())]
            raise BulkWriteError({"writeErrors": errors})

    async def _refused(
        self, position: ObjectId, commits: list[Document], error: BulkWriteError
    ) -> dict[int, Document]:
        """The commits (by index) a failed ordered insert did not store, once the rest
        are stored. An ordered insert stops at the first commit it refuses: the ones before
        it are stored, and the ones after it are sent again, unordered, with no read first
        (nearly always they simply go in). A server may have gone on with a batch of its
        own, so a duplicate among them is looked up: ours by its position, or another
        append's."""
        errors = error.details.get("writeErrors") or []
        first = min(errors, key=lambda e: int(e["index"]), default=None)
        if first is None or int(first["index"]) == 0:
            # The entry itself: nothing after it was written, every append fails.
            details = first or {}
            raise WriteError(details.get("errmsg", "outbox entry refused"), details.get("code"))
        stopped_at = int(first["index"]) - 1  # the entry goes first
        refused = {stopped_at: _refusal(commits[stopped_at]["_id"], first)}
        unsent = list(range(stopped_at + 1, len(commits)))
        while unsent:
            try:
                await self.collection.insert_many([commits[i] for i in unsent], ordered=False)
                break
            except BulkWriteError as again:
                failed = {int(e["index"]): e for e in again.details.get("writeErrors") or []}
            duplicates = []
            for offset, details in failed.items():
                if details.get("code") == DUPLICATE_KEY:
                    duplicates.append(unsent[offset])
                else:
                    refused[unsent[offset]] = details
            if not duplicates:
                break
            query = {"_id": {"$in": [commits[i]["_id"] for i in duplicates]}}
            found = {
                c["_id"]: c["position"] async for c in self.collection.find(query, {"position": 1})
            }
            for index in duplicates:
                if found.get(commits[index]["_id"], position) != position:
                    refused[index] = _duplicate(commits[index]["_id"])
            # Refused as a duplicate yet not found: deleted meanwhile, so sent again.
            unsent = [i for i in duplicates if commits[i]["_id"] not in found]
        return refused

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


def _refusal(commit_id: Any, details: Document) -> Document:
    """Why a commit was refused: another append's under its name, or the server's error."""
    return _duplicate(commit_id) if details.get("code") == DUPLICATE_KEY else details


def _duplicate(commit_id: Any) -> Document:
    return {"code": DUPLICATE_KEY, "errmsg": f"E11000 duplicate key: a commit {commit_id!r} exists"}
