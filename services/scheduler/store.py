"""Durable timers in MongoDB (collection ``timers``), claimed with a lease.

A timer document is keyed by the timer's id, so scheduling is an insert-if-absent and a
redelivered schedule changes nothing (not even a timer that has fired since).

A replica takes a due timer by setting itself as lease owner until ``lease_until``; other
replicas skip it until the lease runs out, which lets a timer whose replica died fire
elsewhere. On MongoDB the claim is atomic. FerretDB runs findAndModify as a read and then
a write, so two replicas can occasionally claim the same timer there: the claim only
spreads the work, and firing once is guaranteed by the event store (see ``domain``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts import parse_payload
from services.scheduler.domain import Timer, TimerKind

Document = dict[str, Any]

# The lease of a timer nobody has claimed yet: expired long ago.
NEVER = datetime(1970, 1, 1, tzinfo=UTC)


class Timers:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._timers = database["timers"]

    async def ensure_indexes(self) -> None:
        await self._timers.create_index([("fired", ASCENDING), ("due_at", ASCENDING)], name="due")
        await self._timers.create_index([("voting_id", ASCENDING)], name="voting")

    async def schedule(self, timer: Timer) -> bool:
        """Store the timer unless one with its id exists; True when it was new."""
        try:
            result = await self._timers.update_one(
                {"_id": timer.id}, {"$setOnInsert": _document(timer)}, upsert=True
            )
        except DuplicateKeyError:
            # A concurrent copy of the same schedule inserted it first.
            return False
        return result.upserted_id is not None

    async def claim_due(self, now: datetime, owner: str, lease_until: datetime) -> Timer | None:
        """Lease the earliest due timer that has not fired and nobody holds, or None."""
        document = await self._timers.find_one_and_update(
            {"fired": False, "due_at": {"$lte": now}, "lease_until": {"$lte": now}},
            {"$set": {"lease_owner": owner, "lease_until": lease_until}},
            sort=[("due_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        return None if document is None else _timer(document)

    async def mark_fired(self, timer_id: str, now: datetime) -> None:
        await self._timers.update_one(
            {"_id": timer_id, "fired": False},
            {"$set": {"fired": True, "fired_at": now, "lease_owner": None}},
        )

    async def release(self, timer_id: str, owner: str) -> None:
        """Give a claimed timer back, so the next tick retries it instead of the lease end."""
        await self._timers.update_one(
            {"_id": timer_id, "lease_owner": owner, "fired": False},
            {"$set": {"lease_owner": None, "lease_until": NEVER}},
        )

    async def of_voting(self, voting_id: str) -> list[Document]:
        """The timer documents of one voting, as an operator would inspect them."""
        cursor = self._timers.find({"voting_id": voting_id}, sort=[("due_at", ASCENDING)])
        return [document async for document in cursor]


def _document(timer: Timer) -> Document:
    return {
        "voting_id": timer.voting_id,
        "kind": str(timer.kind),
        "due_at": timer.due_at,
        "event_type": timer.event.type,
        # Kept as sent: the stored due_at is cut to milliseconds, the event must not be.
        "event": timer.event.model_dump(mode="json"),
        "correlation_id": timer.correlation_id,
        "causation_id": timer.causation_id,
        "fired": False,
        "lease_owner": None,
        "lease_until": NEVER,
    }


def _timer(document: Document) -> Timer:
    return Timer(
        id=document["_id"],
        voting_id=document["voting_id"],
        kind=TimerKind(document["kind"]),
        due_at=document["due_at"],
        event=parse_payload(document["event_type"], document["event"]),
        correlation_id=document["correlation_id"],
        causation_id=document["causation_id"],
    )
