"""A process's slot among the running processes of its service: the lowest number no
other live process holds.

A slot is a lease (``eventing.relay.Lease`` named ``<name>-<n>``) that its process renews
while it runs and gives back when it stops; a process that dies leaves its slot to the
next one to start once the lease has run out. The slot is a preference, never a lock:
what a slot decides (the saga queue a process prefers, eventing.bus) must stay correct
when two processes hold the same one, as they may after a lease ran out under a process
that was only slow. A process that starts while a dead one's lease still runs takes the
next free number and keeps it until it restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from itertools import count
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from eventing.logs import get_logger
from eventing.relay import Lease

log = get_logger(__name__)


class Slot:
    def __init__(self, database: AsyncDatabase[dict[str, Any]], name: str, ttl: timedelta) -> None:
        self._database = database
        self._name = name
        self._ttl = ttl
        self._lease: Lease | None = None
        self._renewing: asyncio.Task[None] | None = None
        self.number = 0

    async def take(self) -> int:
        """Take the lowest free slot and keep renewing it; returns its number."""
        for number in count():
            lease = Lease(self._database, f"{self._name}-{number}", self._ttl)
            if await lease.acquire():
                self._lease, self.number = lease, number
                break
        self._renewing = asyncio.create_task(self._renew(lease), name=f"{self._name}-renewal")
        return self.number

    async def _renew(self, lease: Lease) -> None:
        held = True
        while True:
            await asyncio.sleep(self._ttl.total_seconds() / 3)
            try:
                renewed = await lease.acquire()
            except Exception as error:  # noqa: BLE001 - the store is down: try again later
                log.warning("could not renew the slot", slot=self.number, error=repr(error))
                continue
            if held and not renewed:
                log.warning("another process took this slot", slot=self.number)
            held = renewed

    async def give_back(self) -> None:
        if self._renewing is not None:
            self._renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewing
        if self._lease is not None:
            with contextlib.suppress(Exception):
                await self._lease.release()
