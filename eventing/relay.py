"""The outbox relay: publishes unpublished commits, then marks them published.

Private events (no routing key) are marked without being published. Publishing happens
before marking, so a crash in between publishes the commit again
after restart (at-least-once); consumers deduplicate by message id. Only the replica
holding the relay lease publishes, so replicas do not race each other (on a server whose
conditional updates are not atomic, FerretDB, two may overlap for a moment: that only
publishes some events twice, which consumers deduplicate).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts import Envelope
from eventing.logs import get_logger
from eventing.store import Commit, EventStore

log = get_logger(__name__)

Publish = Callable[[Envelope], Awaitable[None]]


class Lease:
    """A named lease in MongoDB, held by one owner at a time until it expires."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]], name: str, ttl: timedelta) -> None:
        self._leases = database["leases"]
        self._name = name
        self._ttl = ttl
        self.owner = uuid.uuid4().hex

    async def acquire(self) -> bool:
        """Take or renew the lease; False while another owner holds it."""
        now = datetime.now(UTC)
        try:
            await self._leases.find_one_and_update(
                {"_id": self._name, "$or": [{"owner": self.owner}, {"expires_at": {"$lt": now}}]},
                {"$set": {"owner": self.owner, "expires_at": now + self._ttl}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return False
        return True

    async def release(self) -> None:
        await self._leases.delete_one({"_id": self._name, "owner": self.owner})


class OutboxRelay:
    def __init__(
        self,
        store: EventStore,
        publish: Publish,
        lease: Lease,
        *,
        batch_size: int = 500,
        poll_seconds: float = 0.25,
    ) -> None:
        self._store = store
        self._publish = publish
        self._lease = lease
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        store.on_commit(self._wake.set)

    async def relay_once(self) -> int:
        """Publish one batch of unpublished commits; returns how many were published."""
        commits = await self._store.unpublished(self._batch_size)
        if not commits:
            return 0
        await self._publish_in_stream_order(commits)
        await self._store.mark_published([commit.id for commit in commits])
        return len(commits)

    async def _publish_in_stream_order(self, commits: list[Commit]) -> None:
        # Streams are independent, so they publish concurrently (confirms overlap);
        # within one stream, events go out in their order.
        by_stream: dict[str, list[Envelope]] = defaultdict(list)
        for commit in commits:
            by_stream[commit.stream].extend(e for e in commit.events if e.is_public)

        async def publish_stream(events: list[Envelope]) -> None:
            for event in events:
                await self._publish(event)

        await asyncio.gather(*(publish_stream(events) for events in by_stream.values()))

    async def run(self) -> None:
        """Relay until cancelled, waking on local appends and polling for the others."""
        failures = 0
        try:
            while True:
                published = 0
                try:
                    if await self._lease.acquire():
                        published = await self.relay_once()
                    failures = 0
                except Exception as error:  # noqa: BLE001 - store or broker down: retry later
                    failures += 1
                    log.warning(
                        "relay batch failed; retrying", error=repr(error), failures=failures
                    )
                    await asyncio.sleep(min(self._poll_seconds * 2**failures, 2.0))
                if published >= self._batch_size:
                    continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
        finally:
            with contextlib.suppress(Exception):
                await self._lease.release()
