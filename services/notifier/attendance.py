"""What the notifier knows of votings (collection ``votings``: title and kind, for the
wording of reminders and alerts) and who takes part in each (collection ``attendees``:
registered, and whether their vote was counted), kept from the voting service's events.

Every write is idempotent (an upsert by ``_id``), and a counted vote is never undone, so
events may come in any order and any number of times.
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts.voting import VotingKind
from eventing.grouped import GroupedInserts, GroupedWrites

Document = dict[str, Any]


def _attendee_id(voting_id: str, user_id: str) -> str:
    return f"{voting_id}:{user_id}"


class Attendance:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._votings = database["votings"]
        self._attendees = database["attendees"]
        # A vote counted is one small write per vote, written together with the others':
        # an insert, as most voters never registered (an update costs a server several
        # inserts), and an update for those who did.
        self._attendee_inserts = GroupedInserts(self._attendees)
        self._attendee_writes = GroupedWrites(self._attendees)

    async def ensure_indexes(self) -> None:
        await self._attendees.create_index([("voting_id", 1), ("voted", 1)], name="to_alert")

    async def voting_scheduled(self, voting_id: str, title: str, kind: VotingKind) -> None:
        await self._votings.update_one(
            {"_id": voting_id}, {"$set": {"title": title, "kind": kind}}, upsert=True
        )

    async def voting(self, voting_id: str) -> tuple[str, VotingKind] | None:
        """The voting's title and kind, once its scheduling reached the notifier."""
        document = await self._votings.find_one({"_id": voting_id})
        if document is None or "title" not in document:
            return None
        return document["title"], document["kind"]

    async def registered(self, voting_id: str, user_id: str) -> None:
        await self._attendees.update_one(
            {"_id": _attendee_id(voting_id, user_id)},
            {"$setOnInsert": {"voting_id": voting_id, "user_id": user_id, "voted": False}},
            upsert=True,
        )

    async def voted(self, voting_id: str, user_id: str) -> None:
        attendee_id = _attendee_id(voting_id, user_id)
        attendee = {"voting_id": voting_id, "user_id": user_id, "voted": True}
        try:
            await self._attendee_inserts.insert({"_id": attendee_id, **attendee})
        except DuplicateKeyError:
            await self._attendee_writes.upsert(attendee_id, {"$set": attendee})

    async def without_vote(self, voting_id: str) -> list[str]:
        """Users registered to the voting whose vote has not been counted."""
        cursor = self._attendees.find({"voting_id": voting_id, "voted": False}, {"user_id": 1})
        return [document["user_id"] async for document in cursor]
