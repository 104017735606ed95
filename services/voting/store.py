"""The voting service's read models in MongoDB: voting tiles and ballots.

A voting's tile is rewritten whole from its stream on each of its events and guarded by
the stream version, so events applied twice or out of order (inline after the append and
again from the broker) leave the newest state; ballots are inserted keyed by the vote.
:meth:`VotingReadModels.rebuild` replays the whole store.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts import Envelope
from contracts.voting import VoteCast, VotingClosed, VotingOpened, VotingScheduled
from eventing.repository import Repository
from eventing.store import EventStore
from services.voting.domain import VoteKey, Voting, voting_status

Document = dict[str, Any]


class VotingReadModels:
    def __init__(self, database: AsyncDatabase[Document], store: EventStore) -> None:
        self._votings = database["votings"]
        self._ballots = database["ballots"]
        self._store = store
        self._voting_repository = Repository(store, Voting)

    async def ensure_indexes(self) -> None:
        await self._votings.create_index([("opens_at", ASCENDING)])
        await self._ballots.create_index([("user_id", ASCENDING)])
        await self._ballots.create_index([("voting_id", ASCENDING)])

    async def apply(self, envelope: Envelope) -> None:
        event = envelope.message()
        match event:
            case VotingScheduled() | VotingOpened() | VotingClosed():
                await self._refresh_voting(event.voting_id)
            case VoteCast():
                with contextlib.suppress(DuplicateKeyError):
                    await self._ballots.insert_one(
                        {
                            "_id": str(VoteKey(event.voting_id, event.user_id)),
                            "vote_id": event.vote_id,
                            "voting_id": event.voting_id,
                            "user_id": event.user_id,
                            "option_id": event.option_id,
                            "status": "confirmed",
                            "cast_at": envelope.occurred_at,
                        }
                    )

    async def _refresh_voting(self, voting_id: str) -> None:
        # Conditional updates are not atomic on every MongoDB-wire server (FerretDB's are
        # not): a slower writer can land an older tile over a newer one. Reading the tile
        # back and writing again until it is as new as the stream repairs that.
        for _ in range(10):
            voting = await self._voting_repository.get(voting_id)
            if voting is None:
                return
            await self._write_tile(voting)
            tile = await self._votings.find_one({"_id": voting_id}, {"version": 1})
            if tile is not None and tile["version"] >= await self._store.version(voting.stream):
                return

    async def _write_tile(self, voting: Voting) -> None:
        fields = {
            "title": voting.title,
            "description": voting.description,
            "kind": voting.kind,
            "cost": voting.cost,
            "options": [option.model_dump() for option in voting.options],
            "opens_at": voting.opens_at,
            "closes_at": voting.closes_at,
            "closed_at": voting.closed_at,
            "cancelled": False,
            "version": voting.version,
        }
        # A tile already at this version or a newer one wins: the upsert then collides.
        with contextlib.suppress(DuplicateKeyError):
            await self._votings.update_one(
                {"_id": voting.id, "version": {"$lt": voting.version}},
                {"$set": fields},
                upsert=True,
            )

    async def rebuild(self) -> int:
        """Drop the read models and replay every event in the store; returns the count."""
        await self._votings.delete_many({})
        await self._ballots.delete_many({})
        applied = 0
        async for commit in self._store.replay():
            for envelope in commit.events:
                await self.apply(envelope)
                applied += 1
        return applied

    async def tiles(self, user_id: str, now: datetime) -> list[Document]:
        votings = [v async for v in self._votings.find({}, sort=[("opens_at", ASCENDING)])]
        ballots = {
            b["voting_id"]: b
            async for b in self._ballots.find(
                {"user_id": user_id, "voting_id": {"$in": [v["_id"] for v in votings]}}
            )
        }
        return [_tile(v, ballots.get(v["_id"]), now) for v in votings]

    async def tile(self, voting_id: str, user_id: str, now: datetime) -> Document | None:
        voting = await self._votings.find_one({"_id": voting_id})
        if voting is None:
            return None
        ballot = await self._ballots.find_one({"_id": str(VoteKey(voting_id, user_id))})
        return _tile(voting, ballot, now)


def _tile(voting: Document, ballot: Document | None, now: datetime) -> Document:
    closed_at = voting.get("closed_at")
    status = voting_status(
        voting["opens_at"],
        voting["closes_at"],
        now,
        cancelled=voting.get("cancelled", False),
        closed_early=closed_at is not None and closed_at < voting["closes_at"],
    )
    my_vote = None
    if ballot is not None:
        my_vote = {k: ballot[k] for k in ("vote_id", "option_id", "status")}
    return {
        "id": voting["_id"],
        "title": voting["title"],
        "description": voting["description"],
        "kind": voting["kind"],
        "cost": voting["cost"],
        "opens_at": voting["opens_at"].isoformat(),
        "closes_at": voting["closes_at"].isoformat(),
        "status": status,
        "options": voting["options"],
        "registered": ballot is not None,
        "my_vote": my_vote,
    }
