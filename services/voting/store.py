"""The voting service's read models in MongoDB: voting tiles and registrations.

A vote has no read model: its stream is one or two small commits under a key the voter
knows, so a tile reads the voter's vote from its stream, and a tally folds the vote
streams of its voting (one ``_id`` range). A document per vote would double what a vote
costs the store.

Each document is rewritten whole from its aggregate's stream and carries the stream
version it shows, so events applied twice or out of order (inline after the append and
again from the broker) leave the newest state. Conditional updates are not atomic on
every MongoDB-wire server (FerretDB's are not), so a slow writer can land an older state
over a newer one; after writing, the document is read back and written again until it is
as new as its stream. :meth:`VotingReadModels.rebuild` replays the whole store.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from contracts import Envelope
from contracts.voting import (
    VoterRegistered,
    VotingCancelled,
    VotingClosed,
    VotingOpened,
    VotingRescheduled,
    VotingScheduled,
    VotingStatus,
)
from eventing.aggregate import Aggregate
from eventing.grouped import Document
from eventing.logs import get_logger
from eventing.projection import VersionedDocuments, show_newest
from eventing.repository import A, Repository
from eventing.store import Commit, EventStore
from services.voting.domain import Registration, Vote, Voting, voting_status

log = get_logger(__name__)

RETIRED_BALLOTS = "ballots"
# The streams of votes, which no read model shows.
_VOTE_STREAMS = Vote.stream_name("")


class VotingReadModels:
    def __init__(self, database: AsyncDatabase[Document], store: EventStore) -> None:
        self._database = database
        self._votings = VersionedDocuments(database["votings"])
        self._registrations = VersionedDocuments(database["registrations"])
        self._store = store
        self._voting_repository = Repository(store, Voting)
        self._vote_repository = Repository(store, Vote)
        self._registration_repository = Repository(store, Registration)
        # Aggregates this process is saving and showing, by id: their commits are shown
        # by the writer, so projecting them waits for it instead of reading the stream.
        self._showing: dict[str, tuple[asyncio.Future[None], int]] = {}

    async def ensure_indexes(self) -> None:
        await self._votings.collection.create_index([("opens_at", ASCENDING)])
        await self._registrations.collection.create_index([("user_id", ASCENDING)])
        # The read model of votes in earlier versions, now read from their streams.
        await self._database.drop_collection(RETIRED_BALLOTS)

    @contextlib.contextmanager
    def showing(self, aggregate_id: str) -> Iterator[None]:
        """Around a save and the write that shows it: :meth:`apply` of the aggregate's
        events waits until the write is done (it then finds the version shown)."""
        future, writers = self._showing.get(aggregate_id) or (
            asyncio.get_running_loop().create_future(),
            0,
        )
        self._showing[aggregate_id] = (future, writers + 1)
        try:
            yield
        finally:
            future, writers = self._showing[aggregate_id]
            if writers == 1:
                del self._showing[aggregate_id]
                future.set_result(None)
            else:
                self._showing[aggregate_id] = (future, writers - 1)

    async def project(self, commit: Commit) -> None:
        """Show a commit's events, in order (the relay's step before publishing it)."""
        if commit.stream.startswith(_VOTE_STREAMS):
            return  # a vote has no read model, and its events are nearly every commit
        for envelope in commit.events:
            await self.apply(envelope)

    async def apply(self, envelope: Envelope) -> None:
        """Show one event: nothing to do when its document shows its version already."""
        event = envelope.message()
        match event:
            case (
                VotingScheduled()
                | VotingRescheduled()
                | VotingCancelled()
                | VotingOpened()
                | VotingClosed()
            ):
                await self._project(
                    self._votings,
                    self._voting_repository,
                    event.voting_id,
                    _tile_fields,
                    envelope.version,
                )
            case VoterRegistered():
                key = Vote.key(event.voting_id, event.user_id)
                await self._project(
                    self._registrations,
                    self._registration_repository,
                    key,
                    _registration_fields,
                    envelope.version,
                )

    async def write(self, aggregate: Aggregate) -> None:
        """Show an aggregate just saved by this process, without reading its stream.

        The fast path after an append; a lost race here is repaired when the same events
        arrive from the broker and go through :meth:`apply`.
        """
        match aggregate:
            case Voting():
                await _write(self._votings, aggregate, _tile_fields(aggregate))
            case Registration():
                await _write(self._registrations, aggregate, _registration_fields(aggregate))

    async def _project(
        self,
        documents: VersionedDocuments,
        repository: Repository[A],
        aggregate_id: str,
        fields: Callable[[A], Document],
        version: int | None,
    ) -> None:
        if (writing := self._showing.get(aggregate_id)) is not None:
            await asyncio.shield(writing[0])
        if version is not None and await documents.shows(aggregate_id, version):
            return
        aggregate = await repository.get(aggregate_id)
        if aggregate is None:
            return

        async def write(newest: A) -> None:
            await _write(documents, newest, fields(newest))

        if not await show_newest(self._store, repository, aggregate, write, documents.version):
            log.warning("read model still behind its stream", id=aggregate_id)

    async def rebuild(self) -> int:
        """Drop the read models and replay every event in the store; returns the count."""
        for documents in (self._votings, self._registrations):
            await documents.clear()
        applied = 0
        async for commit in self._store.replay():
            for envelope in commit.events:
                await self.apply(envelope)
                applied += 1
        return applied

    # Queries ------------------------------------------------------------------------

    async def tiles(
        self,
        user_id: str,
        now: datetime,
        *,
        status: VotingStatus | None = None,
        include_paid: bool = True,
    ) -> list[Document]:
        query: Document = {} if include_paid else {"kind": "free"}
        votings = [
            v async for v in self._votings.collection.find(query, sort=[("opens_at", ASCENDING)])
        ]
        tiles = await asyncio.gather(*(self._tile_of(v, user_id, now) for v in votings))
        return [t for t in tiles if status is None or t["status"] == status]

    async def tile(self, voting_id: str, user_id: str, now: datetime) -> Document | None:
        voting = await self._votings.collection.find_one({"_id": voting_id})
        return None if voting is None else await self._tile_of(voting, user_id, now)

    async def _tile_of(self, voting: Document, user_id: str, now: datetime) -> Document:
        # Looked up by _id, one voting at a time: the one query every server indexes.
        key = Vote.key(voting["_id"], user_id)
        vote = await self._vote_repository.get(key)
        registered = (
            await self._registrations.collection.find_one({"_id": key}, {"_id": 1}) is not None
        )
        return _tile(voting, vote, registered, now)

    async def ended_between(self, since: datetime, until: datetime) -> list[Document]:
        """The votings whose voting ended in ``[since, until)``, on time or closed early;
        not cancelled ones. (A filter FerretDB answers by a scan: one voting per document,
        asked once a day.)"""
        window = {"$gte": since, "$lt": until}
        cursor = self._votings.collection.find(
            {"cancelled_at": None, "$or": [{"closes_at": window}, {"closed_at": window}]},
            sort=[("_id", ASCENDING)],
        )
        return [voting async for voting in cursor if since <= ended_at(voting) < until]

    async def tally(self, voting_id: str) -> dict[str, int]:
        """Counted votes per option id, from the voting's vote streams."""
        counts: dict[str, int] = {}
        streams = await self._store.read_streams(Vote.stream_name(Vote.key(voting_id, "")))
        for stream, events in streams.items():
            vote = Vote(stream.removeprefix(f"{Vote.stream_prefix}-"))
            vote.replay(events)
            # A voting id that goes on with ":" shares the range.
            if vote.state == "confirmed" and vote.voting_id == voting_id:
                counts[vote.option_id] = counts.get(vote.option_id, 0) + 1
        return counts


def ended_at(voting: Document) -> datetime:
    """When a voting's voting ended (or ends): its closing time, or its early close."""
    closes_at: datetime = voting["closes_at"]
    closed_at: datetime | None = voting.get("closed_at")
    return closes_at if closed_at is None else min(closed_at, closes_at)


async def _write(documents: VersionedDocuments, aggregate: Aggregate, fields: Document) -> None:
    await documents.write(aggregate.id, aggregate.version, fields)


def _tile_fields(voting: Voting) -> Document:
    return {
        "title": voting.title,
        "description": voting.description,
        "kind": voting.kind,
        "cost": voting.cost,
        "options": [option.model_dump() for option in voting.options],
        "opens_at": voting.opens_at,
        "closes_at": voting.closes_at,
        "closed_at": voting.closed_at,
        "cancelled_at": voting.cancelled_at,
    }


def _registration_fields(registration: Registration) -> Document:
    voting_id, _, user_id = registration.id.partition(":")
    return {"voting_id": voting_id, "user_id": user_id}


def _tile(voting: Document, vote: Vote | None, registered: bool, now: datetime) -> Document:
    status = voting_status(
        voting["opens_at"],
        voting["closes_at"],
        now,
        cancelled=voting.get("cancelled_at") is not None,
        closed_at=voting.get("closed_at"),
    )
    my_vote = None
    if vote is not None and vote.state in ("pending", "confirmed"):
        my_vote = {"vote_id": vote.vote_id, "option_id": vote.option_id, "status": vote.state}
    return {
        "id": voting["_id"],
        "title": voting["title"],
        "description": voting["description"],
        "kind": voting["kind"],
        "cost": voting["cost"],
        "opens_at": voting["opens_at"].isoformat(),
        "closes_at": voting["closes_at"].isoformat(),
        "closed_at": voting["closed_at"].isoformat() if voting.get("closed_at") else None,
        "status": status,
        "options": voting["options"],
        "registered": registered or my_vote is not None,
        "my_vote": my_vote,
    }
