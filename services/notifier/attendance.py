"""What the notifier knows of votings (collection ``votings``: title and kind, for the
wording of reminders and alerts) and who registered to each (collection ``attendees``),
kept from the voting service's events.

Every write is idempotent (an upsert by ``_id``), so events may come in any order and any
number of times. Whose vote is counted is asked of the voting service when an alert is
decided (:mod:`services.notifier.voters`): following every vote cast cost the notifier a
delivery and a write per vote, for the few voters who registered. (Earlier versions kept
a ``voted`` flag here; it is read by nobody now.)
"""

from __future__ import annotations

import contextlib
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts.voting import VotingKind

Document = dict[str, Any]


def _attendee_id(voting_id: str, user_id: str) -> str:
    return f"{voting_id}:{user_id}"


class Attendance:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._votings = database["votings"]
        self._attendees = database["attendees"]

    async def ensure_indexes(self) -> None:
        # (voting_id, voted) in earlier versions: its prefix serves the same query.
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
        # Two deliveries of one registration at once can both try to insert: the loser
        # finds it registered.
        with contextlib.suppress(DuplicateKeyError):
            await self._attendees.update_one(
                {"_id": _attendee_id(voting_id, user_id)},
                {"$setOnInsert": {"voting_id": voting_id, "user_id": user_id}},
                upsert=True,
            )

    async def registered_users(self, voting_id: str) -> list[str]:
        """Users registered to the voting, in no particular order."""
        cursor = self._attendees.find({"voting_id": voting_id}, {"user_id": 1})
        return [document["user_id"] async for document in cursor]
