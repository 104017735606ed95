"""A notification to many users at once (a campaign). Pure: no I/O.

A campaign is named for what it is about, so that deciding it again finds it decided:
``update:<update id>``, ``reminder:<voting id>``, ``alert:<voting id>``. Its audience is
decided once, sorted and cut into chunks of ``CHUNK`` users; each chunk is then
delivered on its own (inbox entries, in-app messages, pushes) and marked sent. A user's
inbox entry is named after the campaign (its time, then its name) and the user, so
however often a campaign is delivered (a redelivered event, a restarted notifier), each
user has one entry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from contracts.notifier import NotificationKind
from services.notifier.push import Push

# Users per chunk: one inbox insert and at most one FCM call (500 messages) per device
# each, and what a notifier killed mid-delivery may deliver again.
CHUNK = 500

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Content:
    kind: NotificationKind
    title: str
    body: str
    voting_id: str | None = None
    # A push not delivered by then is dropped by FCM (an alert after its voting closed).
    expires_at: datetime | None = None
    urgent: bool = False

    @property
    def collapse_key(self) -> str | None:
        """Pushes about one voting of one kind replace each other on an offline phone."""
        return f"{self.kind}:{self.voting_id}" if self.voting_id else None


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    content: Content
    audience: int
    chunks: int
    created_at: datetime


def chunks_of(users: Iterable[str]) -> list[list[str]]:
    """The audience, each user once, in a stable order, cut into chunks."""
    ordered = sorted(set(users))
    return [ordered[start : start + CHUNK] for start in range(0, len(ordered), CHUNK)]


def notification_id(campaign_id: str, created_at: datetime, user_id: str) -> str:
    """The id of ``user_id``'s inbox entry of the campaign: the same every time, and
    ordered as the campaigns were created (milliseconds since the epoch, then a digest)."""
    aware = created_at if created_at.tzinfo is not None else created_at.replace(tzinfo=UTC)
    milliseconds = (aware - _EPOCH) // timedelta(milliseconds=1)
    digest = hashlib.sha256(f"{campaign_id}\x1f{user_id}".encode()).hexdigest()[:24]
    return f"{milliseconds:013d}-{digest}"


def push_of(content: Content, notification: str, token: str) -> Push:
    data = {"kind": content.kind, "notification_id": notification}
    if content.voting_id is not None:
        data["voting_id"] = content.voting_id
    return Push(
        token=token,
        title=content.title,
        body=content.body,
        data=data,
        expires_at=content.expires_at,
        collapse_key=content.collapse_key,
        urgent=content.urgent,
    )
