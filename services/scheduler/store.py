"""Schedule changes and durable timers in MongoDB, timers claimed with a lease.

Every lookup of one voting's changes and timers is by ``_id`` alone: FerretDB answers any
other filter by scanning the collection, which made setting the timers of N votings cost
N scans (1,000 votings took minutes).

``schedule_log`` keeps every change heard of in its voting's log, one document per slot
(``"<voting id>#1"``, ``#2``, ...). A change takes the first free slot with an insert,
which only one writer can win; the loser reads what took the slot and moves on, or
stops when it is the same change (a redelivery or a racing copy finds itself in place).
Slots are therefore filled without gaps, and reading a voting's changes is reading its
slots until the first empty one. A change recorded before another handler's read is
seen by that read, which is all ``timetable`` relies on.

``timers`` keeps the timers, keyed by timer id (which holds the version that set it), so
setting one is an insert-if-absent and a timer, once dropped or fired, is never set
again; the timers a change may have set are found from its id alone.

A timer's ``state`` (pending, fired, dropped) is a copy of what its stream says (see
``domain``): it keeps settled timers out of the due query, and a write that loses a race
there writes the same value the winner did.

A replica takes a due timer by setting itself as lease owner until ``lease_until``; other
replicas skip it until the lease runs out, which lets a timer whose replica died fire
elsewhere. On MongoDB the claim is atomic. FerretDB runs findAndModify as a read and then
a write, so two replicas can occasionally claim the same timer there: the claim only
spreads the work, and firing once is guaranteed by the timer's stream.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts import parse_payload
from services.scheduler.domain import (
    ScheduleChange,
    ScheduleEvent,
    Timer,
    TimerKind,
    TimerState,
    timer_id,
)

Document = dict[str, Any]

# The lease of a timer nobody has claimed yet: expired long ago.
NEVER = datetime(1970, 1, 1, tzinfo=UTC)


class Timers:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._timers = database["timers"]
        self._log = database["schedule_log"]

    async def ensure_indexes(self) -> None:
        await self._timers.create_index([("state", ASCENDING), ("due_at", ASCENDING)], name="due")
        # For operators' queries (``of_voting``); the scheduler itself looks up by ``_id``.
        await self._timers.create_index([("voting_id", ASCENDING)], name="voting")

    # Schedule changes ---------------------------------------------------------------

    async def record(self, change: ScheduleChange) -> bool:
        """Add the change to its voting's log unless it is there; True when it was new."""
        slot = 1
        while True:
            key = _slot_id(change.voting_id, slot)
            held = await self._log.find_one({"_id": key})
            if held is None:
                try:
                    await self._log.insert_one({"_id": key, **_change_document(change)})
                    return True
                except DuplicateKeyError:
                    continue  # another change took the slot first: read which one
            if held["change_id"] == change.id:
                return False
            slot += 1

    async def changes_of(self, voting_id: str) -> list[ScheduleChange]:
        changes: list[ScheduleChange] = []
        while held := await self._log.find_one({"_id": _slot_id(voting_id, len(changes) + 1)}):
            changes.append(_change(held))
        return changes

    # Timers -------------------------------------------------------------------------

    async def schedule(self, timer: Timer) -> bool:
        """Store the timer unless one with its id exists; True when it was new."""
        return await _insert_if_absent(self._timers, timer.id, _timer_document(timer))

    async def pending_set_by(self, changes: list[ScheduleChange]) -> list[Timer]:
        """The timers these changes set that are still pending."""
        pending: list[Timer] = []
        for change in changes:
            for kind in TimerKind:
                document = await self._timers.find_one(
                    {"_id": timer_id(change.voting_id, kind, change.version)}
                )
                if document is not None and document["state"] == TimerState.PENDING:
                    pending.append(_timer(document))
        return pending

    async def pending_of(self, voting_id: str) -> list[Timer]:
        return await self.pending_set_by(await self.changes_of(voting_id))

    async def due(self, now: datetime, limit: int) -> list[Timer]:
        """Up to ``limit`` pending timers due by ``now`` that nobody holds, earliest first.

        One query for many timers: FerretDB answers a filter on anything but ``_id`` by
        scanning the collection, so each claim of its own cost a scan (35 ms among 800
        timers); the lease and the settling that follow are by ``_id`` alone.
        """
        cursor = self._timers.find(
            {"state": TimerState.PENDING, "due_at": {"$lte": now}, "lease_until": {"$lte": now}},
            sort=[("due_at", ASCENDING)],
            limit=limit,
        )
        return [_timer(document) async for document in cursor]

    async def lease(self, timer_id: str, owner: str, lease_until: datetime) -> None:
        """Reserve the timer to ``owner`` until ``lease_until``, so that other replicas
        leave it alone. Two replicas may still take one timer at the same moment (no
        conditional update is atomic on FerretDB); its stream lets only one fire it."""
        await self._timers.update_one(
            {"_id": timer_id}, {"$set": {"lease_owner": owner, "lease_until": lease_until}}
        )

    async def settle(self, timer_id: str, state: TimerState, now: datetime) -> None:
        """Record how the timer's stream settled it; it is no longer due. (By ``_id``
        alone: ``state`` is what the stream says, so writing it again changes nothing.)"""
        await self._timers.update_one(
            {"_id": timer_id},
            {"$set": {"state": state, "settled_at": now, "lease_owner": None}},
        )

    async def release(self, timer_id: str, owner: str) -> None:
        """Give a claimed timer back, so the next tick retries it instead of the lease end."""
        await self._timers.update_one(
            {"_id": timer_id, "lease_owner": owner, "state": TimerState.PENDING},
            {"$set": {"lease_owner": None, "lease_until": NEVER}},
        )

    async def of_voting(self, voting_id: str) -> list[Document]:
        """The timer documents of one voting, as an operator would inspect them."""
        cursor = self._timers.find(
            {"voting_id": voting_id}, sort=[("due_at", ASCENDING), ("version", ASCENDING)]
        )
        return [document async for document in cursor]


async def _insert_if_absent(
    collection: AsyncCollection[Document], key: str, document: Document
) -> bool:
    try:
        result = await collection.update_one({"_id": key}, {"$setOnInsert": document}, upsert=True)
    except DuplicateKeyError:
        # A concurrent copy inserted it first.
        return False
    return result.upserted_id is not None


def _slot_id(voting_id: str, slot: int) -> str:
    return f"{voting_id}#{slot}"


def _change_document(change: ScheduleChange) -> Document:
    return {
        "change_id": change.id,
        "voting_id": change.voting_id,
        "version": change.version,
        "event_type": change.event.type,
        # Kept as sent: a stored date is cut to milliseconds, the timers' events must not be.
        "event": change.event.model_dump(mode="json"),
        "correlation_id": change.correlation_id,
        "causation_id": change.causation_id,
    }


def _change(document: Document) -> ScheduleChange:
    event = parse_payload(document["event_type"], document["event"])
    assert isinstance(event, ScheduleEvent)
    return ScheduleChange(
        voting_id=document["voting_id"],
        version=document["version"],
        event=event,
        correlation_id=document["correlation_id"],
        causation_id=document["causation_id"],
    )


def _timer_document(timer: Timer) -> Document:
    return {
        "voting_id": timer.voting_id,
        "kind": str(timer.kind),
        "version": timer.version,
        "due_at": timer.due_at,
        "event_type": timer.event.type,
        "event": timer.event.model_dump(mode="json"),
        "correlation_id": timer.correlation_id,
        "causation_id": timer.causation_id,
        "state": TimerState.PENDING,
        "lease_owner": None,
        "lease_until": NEVER,
    }


def _timer(document: Document) -> Timer:
    return Timer(
        id=document["_id"],
        voting_id=document["voting_id"],
        kind=TimerKind(document["kind"]),
        version=document["version"],
        due_at=document["due_at"],
        event=parse_payload(document["event_type"], document["event"]),
        correlation_id=document["correlation_id"],
        causation_id=document["causation_id"],
    )
