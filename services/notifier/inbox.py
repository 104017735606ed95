"""The inbox read model (collection ``inbox_entries``): every notification a user was sent.

One document per user and campaign, named ``<user id>/<notification id>`` and inserted
once. A notification id starts with its campaign's creation time (milliseconds, fixed
width), so a user's entries are the one ``_id`` range ``<user id>/…``, in time order.
Every read and write is by ``_id`` (a page, the unread count, a read mark): the one key
every MongoDB-wire server answers from an index, FerretDB v1 included (with the prefix
pushdown ``scripts/stack.sh`` builds in). Pages are newest first, with an opaque cursor
naming the last item of the page before.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from typing import Any

from pymongo import DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from contracts.notifier import Inbox, Notification
from eventing.grouped import insert_missing
from eventing.logs import get_logger
from services.notifier.campaign import Campaign, notification_id

log = get_logger(__name__)

Document = dict[str, Any]

ENTRIES = "inbox_entries"
# Entries named by campaign and user alone, before pages were `_id` ranges.
LEGACY = "inbox"
# Sorts after every notification id (digits, '-', hex).
_AFTER_ALL = "~"
_NOTIFICATION_ID = re.compile(r"\d{13}-[0-9a-f]{24}")


class BadCursor(ValueError):
    """A cursor this inbox did not hand out."""


class InboxStore:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._database = database
        self._entries = database[ENTRIES]

    async def prepare(self) -> None:
        """Move entries written before pages were ranges into the ranges, then drop them.

        Inserting an entry that is there already does nothing, so a notifier that dies
        half-way moves the rest when it starts again."""
        if LEGACY not in await self._database.list_collection_names():
            return
        legacy = self._database[LEGACY]
        moved = 0
        batch: list[Document] = []
        async for document in legacy.find({}, sort=[("_id", 1)]):
            batch.append(_moved(document))
            if len(batch) == 500:
                moved += await insert_missing(self._entries, batch)
                batch = []
        moved += await insert_missing(self._entries, batch)
        await legacy.drop()
        log.info("inbox entries moved to per-user ranges", moved=moved)

    async def add(self, campaign: Campaign, users: Sequence[str]) -> int:
        """Each user's entry of the campaign, unless it is there; how many were new."""
        content, created_at = campaign.content, campaign.created_at
        return await insert_missing(
            self._entries,
            [
                {
                    "_id": _key(user_id, notification_id(campaign.id, created_at, user_id)),
                    "user_id": user_id,
                    "campaign": campaign.id,
                    "kind": content.kind,
                    "title": content.title,
                    "body": content.body,
                    "voting_id": content.voting_id,
                    "created_at": created_at,
                    "read": False,
                }
                for user_id in users
            ],
        )

    async def page(self, user_id: str, cursor: str | None, limit: int) -> Inbox:
        before = _decode(cursor) if cursor is not None else _AFTER_ALL
        documents = await self._entries.find(
            _range(user_id, before),
            sort=[("_id", DESCENDING)],
            limit=limit + 1,
        ).to_list()
        items = [_notification(document) for document in documents[:limit]]
        more = len(documents) > limit
        return Inbox(
            items=items,
            unread=await self._unread(user_id),
            next_cursor=_encode(items[-1].id) if more else None,
        )

    async def mark_read(self, user_id: str, notification: str) -> Notification | None:
        """The entry, read; None when the user has no such notification."""
        document = await self._entries.find_one_and_update(
            {"_id": _key(user_id, notification)},
            {"$set": {"read": True}},
            return_document=ReturnDocument.AFTER,
        )
        return _notification(document) if document is not None else None

    async def mark_all_read(self, user_id: str) -> int:
        result = await self._entries.update_many(
            {**_range(user_id), "read": False}, {"$set": {"read": True}}
        )
        return result.modified_count

    async def _unread(self, user_id: str) -> int:
        return await self._entries.count_documents({**_range(user_id), "read": False})


def _key(user_id: str, notification: str) -> str:
    return f"{user_id}/{notification}"


def _range(user_id: str, before: str = _AFTER_ALL) -> Document:
    """The user's entries older than the notification ``before`` (by default all)."""
    return {"_id": {"$gt": _key(user_id, ""), "$lt": _key(user_id, before)}}


def _moved(document: Document) -> Document:
    user_id = document["user_id"]
    notification = notification_id(document["campaign"], document["created_at"], user_id)
    return {**document, "_id": _key(user_id, notification)}


def _notification(document: Document) -> Notification:
    return Notification(
        id=document["_id"].partition("/")[2],
        kind=document["kind"],
        title=document["title"],
        body=document["body"],
        voting_id=document["voting_id"],
        created_at=document["created_at"],
        read=document["read"],
    )


def _encode(notification: str) -> str:
    return base64.urlsafe_b64encode(notification.encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        notification = base64.urlsafe_b64decode(padded).decode()
    except (ValueError, UnicodeDecodeError) as error:
        raise BadCursor(cursor) from error
    if not _NOTIFICATION_ID.fullmatch(notification):
        raise BadCursor(cursor)
    return notification
