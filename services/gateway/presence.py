"""Telling the notifier who is online here (see ``contracts.gateway.SocketsOnline``).

The notifier alone decides between an in-app message and a push, so each gateway
process announces the users holding a socket on it: every ``interval`` seconds, and
``SOON`` after a user comes online here or leaves. An announcement lives for three
intervals, so a killed gateway's users count as offline soon after.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta

from contracts import Envelope
from contracts.gateway import SocketsOnline
from eventing.bus import Bus
from eventing.logs import get_logger
from services.gateway.realtime import Sessions

log = get_logger(__name__)

SOON = 0.05


class PresenceAnnouncer:
    def __init__(self, sessions: Sessions, bus: Bus, interval: float) -> None:
        self.gateway_id = uuid.uuid4().hex
        self._sessions = sessions
        self._bus = bus
        self._interval = interval
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        sessions.on_change = self._changed.set

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="presence-announcer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # Nobody is online here any more, from now on.
        with contextlib.suppress(Exception):
            await self._announce([], alive_for=timedelta(0))

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._changed.wait()
                await asyncio.sleep(SOON)  # a burst of connections: one announcement
            self._changed.clear()
            try:
                await self._announce(
                    self._sessions.users(), alive_for=timedelta(seconds=3 * self._interval)
                )
            except Exception as error:  # noqa: BLE001 - the next round tries again
                log.warning("could not announce who is online", error=repr(error))

    async def _announce(self, users: list[str], alive_for: timedelta) -> None:
        now = datetime.now(UTC)
        await self._bus.publish_event(
            Envelope.wrap(
                SocketsOnline(
                    gateway_id=self.gateway_id,
                    user_ids=users,
                    sent_at=now,
                    alive_until=now + alive_for,
                )
            )
        )
