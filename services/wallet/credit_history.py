"""Every user's credit changes of a time window, for the daily archive: read from the
wallet's event store, the one place every change is written first.

A change belongs to the window its event occurred in. The store is looked up by when
commits were stored (a commit is stored a moment after its event occurred), over the
window widened by ``STORED_WITHIN`` on each side, so a change made just before a
boundary and stored just after it is still found; the events are then kept by when they
occurred. The changes come in the order they were stored, which is the same on every
reading, so a day archived twice lists them alike. Nothing is written per vote: the
archive's once-a-day look back costs the store a range read (MongoDB: the position
index) instead of a journal write for every credit change.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from contracts.wallet import CreditChanges
from eventing.store import EventStore
from services.wallet.credit_changes import credit_change

# How long after its event occurred a commit is stored at the latest, for the window.
STORED_WITHIN = timedelta(minutes=5)


class CreditHistory:
    def __init__(self, store: EventStore) -> None:
        self._store = store

    async def page(
        self, since: datetime, until: datetime, after: str | None, limit: int
    ) -> CreditChanges:
        """The changes made in ``[since, until)``, from the commits stored after the cursor
        ``after``; at most ``limit`` commits are looked at, so a page may hold fewer
        changes (even none) and still have a next one."""
        commits, next_cursor = await self._store.stored_between(
            since - STORED_WITHIN, until + STORED_WITHIN, after, limit
        )
        changes = [
            change
            for commit in commits
            for envelope in commit.events
            if since <= envelope.occurred_at < until
            and (
                change := credit_change(
                    envelope.message(), envelope.message_id, envelope.occurred_at
                )
            )
            is not None
        ]
        return CreditChanges(items=changes, next_cursor=next_cursor)
