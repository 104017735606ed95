"""What every service process runs: store, outbox relay and bus, started and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from contracts import Envelope, Message, Reply
from contracts.system import Ping
from eventing.bus import Bus, CommandHandler, EventHandler
from eventing.logs import configure_logging, get_logger
from eventing.relay import Lease, OutboxRelay
from eventing.settings import RuntimeSettings
from eventing.store import EventStore

log = get_logger(__name__)


class ServiceRuntime:
    """The infrastructure of one service process.

    Handlers are registered with :meth:`serve` before :meth:`start`; every service
    answers :class:`~contracts.system.Ping`.
    """

    def __init__(self, service: str, settings: RuntimeSettings | None = None) -> None:
        self.name = service
        self.settings = settings or RuntimeSettings()
        self.mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            self.settings.mongodb_url, tz_aware=True, serverSelectionTimeoutMS=10_000
        )
        self.db: AsyncDatabase[dict[str, Any]] = self.mongo[self.settings.database_name(service)]
        self.store = EventStore(self.db)
        self.bus = Bus(self.settings, service)
        self.relay = OutboxRelay(
            self.store,
            self.bus.publish_event,
            Lease(self.db, "outbox-relay", timedelta(seconds=self.settings.relay_lease_seconds)),
            batch_size=self.settings.relay_batch_size,
            poll_seconds=self.settings.relay_poll_seconds,
        )
        self._relay_task: asyncio.Task[None] | None = None

    def serve(
        self,
        commands: Mapping[type[Message], CommandHandler] | None = None,
        events: Mapping[type[Message], EventHandler] | None = None,
    ) -> None:
        """Register the service's handlers (before :meth:`start`)."""
        self.bus.serve_commands({Ping: self._ping, **(commands or {})})
        if events:
            self.bus.consume_events(events)

    async def _ping(self, _: Message, __: Envelope) -> Reply:
        return Reply.ok({"service": self.name})

    async def start(self) -> None:
        await self.store.ensure_indexes()
        await self.bus.start()
        self._relay_task = asyncio.create_task(self.relay.run(), name=f"{self.name}-relay")
        log.info("service started", namespace=self.settings.namespace)

    async def stop(self) -> None:
        if self._relay_task is not None:
            self._relay_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relay_task
        await self.bus.stop()
        await self.mongo.close()
        log.info("service stopped")


async def run_until_signalled(runtime: ServiceRuntime) -> None:
    """Start the runtime, serve until SIGTERM or SIGINT, then stop cleanly."""
    configure_logging(runtime.name, runtime.settings.log_level, runtime.settings.log_format)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await runtime.start()
    try:
        await stop.wait()
    finally:
        await runtime.stop()
