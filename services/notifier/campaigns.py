"""The campaigns store: each campaign's decided audience, in chunks, and how each chunk's
delivery went (collections ``campaigns`` and ``campaign_chunks``, read by ``_id``, but for
the day's campaigns the daily archive asks for).

Deciding writes the chunks first and the campaign last: a campaign that exists has all
its chunks, and a decision cut short by a crash is simply taken again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts.notifier import Delivery
from services.notifier.campaign import Campaign, Content, chunks_of

Document = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Chunk:
    campaign_id: str
    number: int
    users: list[str]
    sent: bool


@dataclass(frozen=True, slots=True)
class ChunkOutcome:
    """What one chunk's delivery did (users, and devices)."""

    inboxed: int = 0
    in_app: int = 0
    pushed: int = 0
    failed: int = 0
    tokens_removed: int = 0
    without_device: int = 0


def _chunk_id(campaign_id: str, number: int) -> str:
    return f"{campaign_id}#{number}"


class Campaigns:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._campaigns = database["campaigns"]
        self._chunks = database["campaign_chunks"]

    async def ensure_indexes(self) -> None:
        await self._campaigns.create_index([("created_at", ASCENDING)], name="created")

    async def decide(
        self,
        campaign_id: str,
        content: Content,
        audience: Callable[[], Awaitable[list[str]]],
        now: datetime,
    ) -> Campaign:
        """The campaign with the users ``audience`` finds as its audience, unless it was
        decided before (then as it was decided, and ``audience`` is not asked: a message
        delivered again does not read every recipient, or ask voting, again)."""
        existing = await self.get(campaign_id)
        if existing is not None:
            return existing
        users = await audience()
        # As the store keeps times (milliseconds), so the inbox and a push agree.
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        chunks = chunks_of(users)
        for number, chunk in enumerate(chunks):
            await self._chunks.replace_one(
                {"_id": _chunk_id(campaign_id, number)},
                {"campaign": campaign_id, "number": number, "users": chunk, "sent": False},
                upsert=True,
            )
        campaign = Campaign(campaign_id, content, sum(map(len, chunks)), len(chunks), now)
        try:
            await self._campaigns.insert_one(
                {
                    "_id": campaign_id,
                    "content": asdict(content),
                    "audience": campaign.audience,
                    "chunks": campaign.chunks,
                    "created_at": now,
                }
            )
        except DuplicateKeyError:
            # Decided at the same moment elsewhere; both wrote the same chunks.
            decided = await self.get(campaign_id)
            assert decided is not None
            return decided
        return campaign

    async def get(self, campaign_id: str) -> Campaign | None:
        document = await self._campaigns.find_one({"_id": campaign_id})
        if document is None:
            return None
        return Campaign(
            id=campaign_id,
            content=Content(**document["content"]),
            audience=document["audience"],
            chunks=document["chunks"],
            created_at=document["created_at"],
        )

    async def chunk(self, campaign_id: str, number: int) -> Chunk:
        document = await self._chunks.find_one({"_id": _chunk_id(campaign_id, number)})
        assert document is not None, "a decided campaign has all its chunks"
        return Chunk(campaign_id, number, document["users"], document["sent"])

    async def sent(self, campaign_id: str, number: int, outcome: ChunkOutcome) -> None:
        await self._chunks.update_one(
            {"_id": _chunk_id(campaign_id, number)},
            {"$set": {"sent": True, "outcome": asdict(outcome)}},
        )

    async def delivery(self, campaign_id: str) -> Delivery | None:
        """How far the campaign has got: the counts of its sent chunks."""
        campaign = await self.get(campaign_id)
        if campaign is None:
            return None
        documents = await asyncio.gather(
            *(
                self._chunks.find_one({"_id": _chunk_id(campaign_id, number)}, {"users": 0})
                for number in range(campaign.chunks)
            )
        )
        totals: dict[str, int] = dict.fromkeys(ChunkOutcome.__dataclass_fields__, 0)
        for document in documents:
            for name, count in ((document or {}).get("outcome") or {}).items():
                totals[name] += count
        return Delivery(
            id=campaign_id,
            kind=campaign.content.kind,
            title=campaign.content.title,
            voting_id=campaign.content.voting_id,
            audience=campaign.audience,
            done=all(document is not None and document["sent"] for document in documents),
            created_at=campaign.created_at,
            **totals,
        )

    async def created_between(self, since: datetime, until: datetime) -> list[Delivery]:
        """The deliveries of the campaigns created in ``[since, until)``, oldest first."""
        cursor = self._campaigns.find(
            {"created_at": {"$gte": since, "$lt": until}},
            {"_id": 1},
            sort=[("created_at", ASCENDING), ("_id", ASCENDING)],
        )
        deliveries = [await self.delivery(document["_id"]) async for document in cursor]
        return [delivery for delivery in deliveries if delivery is not None]
