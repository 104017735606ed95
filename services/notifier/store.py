"""The notifier's read models: recipients (who gets reminders and updates) and devices.

One document per recipient (or user's devices), rewritten whole from its stream and
guarded by its stream version, so a late or repeated write does not replace a newer
state. (FerretDB does not apply that guard atomically; the handlers check the result
against the stream.) :meth:`Recipients.rebuild` replays recipients from the event store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from contracts.notifier import Device
from eventing.projection import VersionedDocuments
from eventing.store import EventStore
from services.notifier.devices import UserDevices
from services.notifier.domain import Preferences, Recipient

Document = dict[str, Any]


@dataclass(frozen=True, slots=True)
class RecipientView:
    user_id: str
    preferences: Preferences
    # Whether the user's registration reached the notifier (a preferences change can
    # come first).
    added: bool
    version: int


class Recipients:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._recipients = VersionedDocuments(database["recipients"])

    async def ensure_indexes(self) -> None:
        await self._recipients.collection.create_index([("preferences.reminders", ASCENDING)])
        await self._recipients.collection.create_index([("preferences.updates", ASCENDING)])

    async def put(self, recipient: Recipient) -> None:
        """Store the recipient's state unless a newer version of it is stored already."""
        await self._recipients.write(
            recipient.user_id,
            recipient.version,
            {
                "user_id": recipient.user_id,
                "preferences": recipient.preferences.model_dump(),
                "added": recipient.added,
            },
        )

    async def version(self, user_id: str) -> int:
        """The stream version the stored recipient reflects; 0 when none is stored."""
        return await self._recipients.version(user_id)

    async def get(self, user_id: str) -> RecipientView | None:
        document = await self._recipients.collection.find_one({"_id": user_id})
        return None if document is None else _view(document)

    async def reminder_recipients(self, *, paid: bool) -> AsyncIterator[str]:
        """Users to remind of a voting: see :meth:`Preferences.wants_reminder`."""
        query: Document = {"preferences.reminders": True}
        if paid:
            query["preferences.show_paid"] = True
        async for document in self._recipients.collection.find(query, {"_id": 1}):
            yield document["_id"]

    async def count_update_recipients(self) -> int:
        return await self._recipients.collection.count_documents({"preferences.updates": True})

    async def update_recipients(self) -> AsyncIterator[str]:
        """Users who consented to updates."""
        async for document in self._recipients.collection.find(
            {"preferences.updates": True}, {"_id": 1}
        ):
            yield document["_id"]

    async def rebuild(self, store: EventStore) -> int:
        """Replace the read model by a replay of every recipient stream; returns recipients.

        Meant for a stopped notifier: a change handled during the rebuild can be lost
        until that recipient's next event.
        """
        prefix = f"{Recipient.stream_prefix}-"
        recipients: dict[str, Recipient] = {}
        async for commit in store.replay():
            if not commit.stream.startswith(prefix):
                continue
            user_id = commit.stream.removeprefix(prefix)
            recipient = recipients.setdefault(user_id, Recipient(user_id))
            for event in commit.events:
                recipient.apply(event.message())
            recipient.version = commit.version
        await self._recipients.clear()
        for recipient in recipients.values():
            await self.put(recipient)
        return len(recipients)


def _view(document: Document) -> RecipientView:
    return RecipientView(
        user_id=document["_id"],
        preferences=Preferences.model_validate(document["preferences"]),
        added=document["added"],
        version=document["version"],
    )


class DeviceBook:
    """The devices read model (collection ``devices``): one document per user, the
    devices their pushes go to, guarded by the version of their ``devices-`` stream."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._devices = VersionedDocuments(database["devices"])

    async def put(self, devices: UserDevices) -> None:
        await self._devices.write(
            devices.id,
            devices.version,
            {"devices": [device.model_dump(mode="json") for device in devices.listed()]},
        )

    async def version(self, user_id: str) -> int:
        return await self._devices.version(user_id)

    async def of(self, user_id: str) -> list[Device]:
        document = await self._devices.collection.find_one({"_id": user_id})
        if document is None:
            return []
        return [Device.model_validate(device) for device in document["devices"]]
