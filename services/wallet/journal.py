"""The credit journal: every user's credit changes in time order (collection
``credit_journal``), for the daily archive.

One document per change, keyed by :func:`change_key` (its time, then its event id), so
that a day's changes are one range of ``_id``, already in the order the archive lists
them: the key every MongoDB-wire server seeks (FerretDB scans for any other filter), and
a page is the range after the last key of the one before.

The wallet fills it from its own credit events as they come back from the broker (see
``journal_handlers``): every appended event is published, so a crash between an append
and this write cannot leave a change out, and one recorded twice is one document.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts.wallet import CreditChange, CreditChanges
from eventing.grouped import MAX_BATCH, GroupedInserts, insert_missing
from eventing.store import EventStore
from services.wallet.credit_changes import change_key, credit_change, moment_key


class CreditJournal:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self._journal = database["credit_journal"]
        self._inserts = GroupedInserts(self._journal)

    async def record(self, change: CreditChange) -> None:
        """Add the change unless it is there already."""
        # Recorded before: a redelivery, or two copies of one event.
        with contextlib.suppress(DuplicateKeyError):
            await self._inserts.insert(_document(change))

    async def page(
        self, since: datetime, until: datetime, after: str | None, limit: int
    ) -> CreditChanges:
        """The changes made in ``[since, until)`` after the key ``after``, oldest first."""
        first = moment_key(since)
        lower = {"$gt": after} if after is not None and after >= first else {"$gte": first}
        cursor = self._journal.find(
            {"_id": {**lower, "$lt": moment_key(until)}}, sort=[("_id", ASCENDING)], limit=limit
        )
        documents = [document async for document in cursor]
        return CreditChanges(
            items=[CreditChange.model_validate(_fields(document)) for document in documents],
            next_cursor=documents[-1]["_id"] if len(documents) == limit else None,
        )

    async def rebuild(self, store: EventStore) -> int:
        """Replace the journal by a replay of the store (service stopped); the changes."""
        await self._journal.delete_many({})
        batch: list[dict[str, Any]] = []
        recorded = 0
        async for commit in store.replay():
            for envelope in commit.events:
                change = credit_change(
                    envelope.message(), envelope.message_id, envelope.occurred_at
                )
                if change is not None:
                    batch.append(_document(change))
            if len(batch) >= MAX_BATCH:
                recorded += await insert_missing(self._journal, batch)
                batch = []
        return recorded + await insert_missing(self._journal, batch)


def _document(change: CreditChange) -> dict[str, Any]:
    # As JSON: the time keeps its microseconds (a stored date would keep milliseconds).
    return {"_id": change_key(change.at, change.event_id), **change.model_dump(mode="json")}


def _fields(document: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in document.items() if name != "_id"}
