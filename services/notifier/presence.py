"""Who is online: the newest announcement of each gateway process (collection
``presence``, one document per gateway, see ``contracts.gateway.SocketsOnline``).

A user is online while some gateway's newest announcement names them and has not
expired. The fan-out asks for hundreds of users at once, so the announcements are read
whole and kept for ``CACHE_SECONDS``: a socket opened that long ago or less may still
be taken for offline (its user gets a push instead, and the inbox entry either way).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from contracts.gateway import SocketsOnline
from eventing.clock import Clock

Document = dict[str, Any]

CACHE_SECONDS = 0.5


class Presence:
    def __init__(self, database: AsyncDatabase[Document], clock: Clock) -> None:
        self._gateways = database["presence"]
        self._clock = clock
        self._cached: tuple[float, set[str]] | None = None

    async def announced(self, announcement: SocketsOnline) -> None:
        """Keep a gateway's announcement unless a newer one of it is kept already."""
        stored = await self._gateways.find_one({"_id": announcement.gateway_id}, {"users": 0})
        if stored is not None and stored["sent_at"] >= announcement.sent_at:
            return
        await self._gateways.replace_one(
            {"_id": announcement.gateway_id},
            {
                "users": announcement.user_ids,
                "sent_at": announcement.sent_at,
                "alive_until": announcement.alive_until,
            },
            upsert=True,
        )
        self._cached = None

    async def online(self, users: list[str]) -> set[str]:
        """Those of ``users`` with a live WebSocket."""
        return set(users) & await self._everyone_online()

    async def _everyone_online(self) -> set[str]:
        if self._cached is not None and time.monotonic() - self._cached[0] < CACHE_SECONDS:
            return self._cached[1]
        now: datetime = self._clock.now()
        online: set[str] = set()
        stale: list[str] = []
        async for document in self._gateways.find({}):
            if document["alive_until"] > now:
                online.update(document["users"])
            else:
                stale.append(document["_id"])
        if stale:
            # Gone gateways (killed, or stopped): nobody is online there.
            await self._gateways.delete_many({"_id": {"$in": stale}, "alive_until": {"$lte": now}})
        self._cached = (time.monotonic(), online)
        return online
