"""The inbox read model (collection ``inbox``): every notification a user was sent.

One document per user and campaign, inserted once (its ``_id`` is the notification id,
see :mod:`services.notifier.campaign`). Pages are newest first, by creation time and id,
with an opaque cursor naming the last item of the page before.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from contracts.notifier import Inbox, Notification
from eventing.grouped import insert_missing
from services.notifier.campaign import Campaign, notification_id

Document = dict[str, Any]


class BadCursor(ValueError):
    """A cursor this inbox did not hand out."""


class InboxStore:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._inbox = database["inbox"]

    async def ensure_indexes(self) -> None:
        await self._inbox.create_index(
            [("user_id", 1), ("created_at", DESCENDING), ("_id", DESCENDING)], name="page"
        )
        await self._inbox.create_index([("user_id", 1), ("read", 1)], name="unread")

    async def add(self, campaign: Campaign, users: Sequence[str]) -> int:
        """Each user's entry of the campaign, unless it is there; how many were new."""
        content = campaign.content
        return await insert_missing(
            self._inbox,
            [
                {
                    "_id": notification_id(campaign.id, user_id),
                    "user_id": user_id,
                    "campaign": campaign.id,
                    "kind": content.kind,
                    "title": content.title,
                    "body": content.body,
                    "voting_id": content.voting_id,
                    "created_at": campaign.created_at,
                    "read": False,
                }
                for user_id in users
            ],
        )

    async def entry(self, user_id: str, notification: str) -> Notification | None:
        document = await self._inbox.find_one({"_id": notification})
        if document is None or document["user_id"] != user_id:
            return None
        return _notification(document)

    async def page(self, user_id: str, cursor: str | None, limit: int) -> Inbox:
        query: Document = {"user_id": user_id}
        if cursor is not None:
            created_at, last_id = _decode(cursor)
            query["$or"] = [
                {"created_at": {"$lt": created_at}},
                {"created_at": created_at, "_id": {"$lt": last_id}},
            ]
        documents = await self._inbox.find(
            query, sort=[("created_at", DESCENDING), ("_id", DESCENDING)], limit=limit + 1
        ).to_list()
        items = [_notification(document) for document in documents[:limit]]
        more = len(documents) > limit
        unread = await self._inbox.count_documents({"user_id": user_id, "read": False})
        return Inbox(
            items=items,
            unread=unread,
            next_cursor=_encode(documents[limit - 1]) if more else None,
        )

    async def mark_read(self, user_id: str, notification: str) -> bool:
        """False when the user has no such notification."""
        result = await self._inbox.update_one(
            {"_id": notification, "user_id": user_id}, {"$set": {"read": True}}
        )
        return result.matched_count == 1

    async def mark_all_read(self, user_id: str) -> int:
        result = await self._inbox.update_many(
            {"user_id": user_id, "read": False}, {"$set": {"read": True}}
        )
        return result.modified_count

    async def of_campaign(self, campaign_id: str) -> int:
        return await self._inbox.count_documents({"campaign": campaign_id})


def _notification(document: Document) -> Notification:
    return Notification(
        id=document["_id"],
        kind=document["kind"],
        title=document["title"],
        body=document["body"],
        voting_id=document["voting_id"],
        created_at=document["created_at"],
        read=document["read"],
    )


def _encode(document: Document) -> str:
    position = [document["created_at"].isoformat(), document["_id"]]
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, last_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created_at), str(last_id)
    except (ValueError, TypeError) as error:
        raise BadCursor(cursor) from error
