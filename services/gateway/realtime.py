"""Pushes to the open WebSockets of this gateway process: vote outcomes, notifications.

Each socket has a bounded outbox that a push is dropped into without waiting, so one
slow client never holds up the broadcast consumer nor anyone else's pushes; a socket
whose outbox overflows is closed, and its client reconnects and reads what it missed
from the API. Pushes are a courtesy on top of the API, never the only record of anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel

from contracts import Envelope
from contracts.notifier import Notification, NotificationCreated
from contracts.voting import UNANSWERED_OUTCOME, VoteCast, VoteRejected
from eventing.handlers import HandlerMap

# Far more than a client that reads its socket ever has waiting.
OUTBOX_SIZE = 256


class Connected(BaseModel):
    """The first message on every socket: from now on its pushes are delivered."""

    type: Literal["connected"] = "connected"
    user_id: str


class VoteConfirmedPush(BaseModel):
    """The user's vote was counted (a paid one: its credit was taken)."""

    type: Literal["vote.confirmed"] = "vote.confirmed"
    voting_id: str
    vote_id: str
    option_id: str


class VoteRejectedPush(BaseModel):
    """The user's pending vote was not counted; ``reason`` is an error code."""

    type: Literal["vote.rejected"] = "vote.rejected"
    voting_id: str
    vote_id: str
    reason: str


class NotificationPush(BaseModel):
    """A reminder, alert or update, as it stands in the user's inbox."""

    type: Literal["notification"] = "notification"
    notification: Notification


Push = Connected | VoteConfirmedPush | VoteRejectedPush | NotificationPush


class Session:
    """One open socket of one user: what waits to be sent to it."""

    def __init__(self, user_id: str, capacity: int = OUTBOX_SIZE) -> None:
        self.user_id = user_id
        self._outbox: asyncio.Queue[Push] = asyncio.Queue(maxsize=capacity)
        self.overflowed = asyncio.Event()

    def offer(self, push: Push) -> None:
        try:
            self._outbox.put_nowait(push)
        except asyncio.QueueFull:
            self.overflowed.set()

    async def next(self) -> Push:
        return await self._outbox.get()


class Sessions:
    """The open sockets of this process, by user; ``on_change`` is called when a user
    comes online here or leaves."""

    def __init__(
        self, capacity: int = OUTBOX_SIZE, on_change: Callable[[], None] | None = None
    ) -> None:
        self._capacity = capacity
        self._by_user: dict[str, set[Session]] = {}
        self.on_change = on_change

    def open(self, user_id: str) -> Session:
        session = Session(user_id, self._capacity)
        self._by_user.setdefault(user_id, set()).add(session)
        if len(self._by_user[user_id]) == 1 and self.on_change is not None:
            self.on_change()
        return session

    def close(self, session: Session) -> None:
        sessions = self._by_user.get(session.user_id)
        if sessions is None:
            return
        sessions.discard(session)
        if not sessions:
            del self._by_user[session.user_id]
            if self.on_change is not None:
                self.on_change()

    def users(self) -> list[str]:
        """Who holds a socket here."""
        return list(self._by_user)

    def push(self, user_id: str, push: Push) -> int:
        """Queue ``push`` on each of the user's sockets; how many it went to."""
        sessions = self._by_user.get(user_id, ())
        for session in sessions:
            session.offer(push)
        return len(sessions)

    def __len__(self) -> int:
        return sum(len(sessions) for sessions in self._by_user.values())


def vote_outcomes(sessions: Sessions) -> HandlerMap[None]:
    """Handlers that tell a voter's sockets how their paid vote ended, when its request
    could not (it answered 202): see :func:`push_bindings`."""

    async def confirmed(event: VoteCast, _: Envelope) -> None:
        sessions.push(
            event.user_id,
            VoteConfirmedPush(
                voting_id=event.voting_id, vote_id=event.vote_id, option_id=event.option_id
            ),
        )

    async def rejected(event: VoteRejected, _: Envelope) -> None:
        sessions.push(
            event.user_id,
            VoteRejectedPush(voting_id=event.voting_id, vote_id=event.vote_id, reason=event.reason),
        )

    return HandlerMap[None]().on(VoteCast, confirmed).on(VoteRejected, rejected)


def notification_pushes(sessions: Sessions) -> HandlerMap[None]:
    """Handlers that show a notification on its user's sockets."""

    async def created(event: NotificationCreated, _: Envelope) -> None:
        sessions.push(event.user_id, NotificationPush(notification=event.notification))

    return HandlerMap[None]().on(NotificationCreated, created)


def push_bindings() -> list[str]:
    """The routing keys every gateway process hears for its sockets.

    Every process hears each of these, so each costs a delivery per gateway process. A
    vote's outcome is heard only when its request did not answer it (a paid vote answered
    202): the voting process broadcasts no other (``UNANSWERED_OUTCOME``).
    """
    return [UNANSWERED_OUTCOME, NotificationCreated.binding()]
