"""Idempotent consumption: each message id has its effect once per consumer.

The marker is written after the handler's effects, so a crash in between makes the
message run again; handlers therefore keep their own effects idempotent too (an append at
a fixed stream version, an upsert keyed by the event), and the marker makes the common
case, a plain redelivery or a duplicate publish, skip all work.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts import Envelope, Message
from eventing.bus import EventHandler
from eventing.logs import get_logger

log = get_logger(__name__)


class ProcessedMessages:
    def __init__(self, database: AsyncDatabase[dict[str, Any]], consumer: str) -> None:
        self._processed = database["processed_messages"]
        self._consumer = consumer

    def _key(self, message_id: str) -> str:
        return f"{self._consumer}:{message_id}"

    async def seen(self, message_id: str) -> bool:
        return await self._processed.find_one({"_id": self._key(message_id)}, {"_id": 1}) is not None

    async def remember(self, message_id: str) -> None:
        try:
            await self._processed.insert_one(
                {"_id": self._key(message_id), "processed_at": datetime.now(UTC)}
            )
        except DuplicateKeyError:
            pass

    def once(self, handler: EventHandler) -> EventHandler:
        """Wrap an event handler so a message it already applied is skipped."""

        async def handle_once(event: Message, envelope: Envelope) -> None:
            if await self.seen(envelope.message_id):
                log.info("skipping a message already processed", message_id=envelope.message_id)
                return
            await handler(event, envelope)
            await self.remember(envelope.message_id)

        return handle_once
