"""Idempotent consumption: each message id has its effect once per consumer.

A consumer first claims the message id (a unique ``_id`` in ``processed_messages``), runs
the handler, then marks the claim done. A duplicate that arrives while the first copy is
still being handled (the broker delivers concurrently, up to the prefetch) waits for it
and is then skipped; a duplicate of a finished message is skipped at once. A claim whose
holder died is taken over after ``stale_after``, so a crash mid-handler cannot lose the
message: its handler runs again, which is why handlers keep their own effects idempotent
too (an append at a fixed stream version, an upsert keyed by the event). On a server
whose conditional updates are not atomic (FerretDB), two consumers may both take over the
same stale claim; that, too, only runs an idempotent handler twice.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts import Envelope, Message
from eventing.bus import EventHandler
from eventing.logs import get_logger

log = get_logger(__name__)


class ProcessedMessages:
    def __init__(
        self,
        database: AsyncDatabase[dict[str, Any]],
        consumer: str,
        stale_after: timedelta = timedelta(seconds=30),
    ) -> None:
        self._processed = database["processed_messages"]
        self._consumer = consumer
        self._stale_after = stale_after

    def _key(self, message_id: str) -> str:
        return f"{self._consumer}:{message_id}"

    async def _claim(self, key: str) -> datetime | None:
        """When this caller claimed the message; None when it is already done."""
        deadline = time.monotonic() + self._stale_after.total_seconds() + 5
        while True:
            now = datetime.now(UTC)
            try:
                await self._processed.insert_one({"_id": key, "done": False, "claimed_at": now})
                return now
            except DuplicateKeyError:
                pass
            # Filters on _id alone: the one filter every MongoDB-wire server indexes.
            existing = await self._processed.find_one({"_id": key})
            if existing is None:
                continue  # released meanwhile: claim it again
            if existing["done"]:
                return None
            claimed_at = existing["claimed_at"].replace(tzinfo=UTC)  # naive on some clients
            if claimed_at < now - self._stale_after:
                # Only from the claim seen here: another consumer may be taking it over too.
                taken = await self._processed.update_one(
                    {"_id": key, "claimed_at": existing["claimed_at"]},
                    {"$set": {"claimed_at": now}},
                )
                if taken.modified_count:
                    log.warning("taking over a message whose consumer stopped mid-way", key=key)
                    return now
                continue
            if time.monotonic() > deadline:
                raise TimeoutError(f"message {key} stayed claimed by another consumer")
            await asyncio.sleep(0.05)

    async def _release(self, key: str, claimed_at: datetime) -> None:
        # Only this claim: another consumer may have taken the message over meanwhile.
        await self._processed.delete_one({"_id": key, "claimed_at": claimed_at})

    async def _done(self, key: str) -> None:
        await self._processed.update_one(
            {"_id": key}, {"$set": {"done": True, "processed_at": datetime.now(UTC)}}
        )

    def once(self, handler: EventHandler) -> EventHandler:
        """Wrap an event handler so that each message id is applied once."""

        async def process(event: Message, envelope: Envelope) -> None:
            key = self._key(envelope.message_id)
            claimed_at = await self._claim(key)
            if claimed_at is None:
                log.info("skipping a message already processed", message_id=envelope.message_id)
                return
            try:
                await handler(event, envelope)
            except Exception:
                # Let the redelivery run the handler again at once.
                await self._release(key, claimed_at)
                raise
            await self._done(key)

        async def handle_once(event: Message, envelope: Envelope) -> None:
            # A lost broker connection cancels the delivery. Claim, effects and mark still
            # complete, so the redelivered copy is skipped instead of applied twice or
            # left waiting for a claim nobody holds.
            await asyncio.shield(process(event, envelope))

        return handle_once
