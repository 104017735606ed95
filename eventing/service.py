"""What every service process runs: store, outbox relay and bus, started and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from contracts import Envelope, Message, Reply
from contracts.system import Ping
from eventing.bus import Bus, CommandHandler, EventHandler
from eventing.health import CHECK_SECONDS, HealthServer
from eventing.logs import configure_logging, get_logger
from eventing.relay import Lease, OutboxRelay
from eventing.settings import RuntimeSettings
from eventing.slots import Slot
from eventing.store import EventStore

log = get_logger(__name__)

# How long a stopping process spends publishing what it appended.
FLUSH_SECONDS = 5.0


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
            self.bus.publish_events,
            Lease(self.db, "outbox-relay", timedelta(seconds=self.settings.relay_lease_seconds)),
            batch_size=self.settings.relay_batch_size,
            sweep_seconds=self.settings.relay_sweep_seconds,
            grace_seconds=self.settings.relay_grace_seconds,
            linger_seconds=self.settings.relay_linger_seconds,
            route=self.bus.route,
        )
        self.saga_slot = Slot(
            self.db, "saga-slot", timedelta(seconds=self.settings.saga_slot_seconds)
        )
        self._relay_task: asyncio.Task[None] | None = None
        self._stopping = False
        self.health: HealthServer | None = None
        if self.settings.health_port is not None:
            self.health = HealthServer(
                {
                    "broker": self._broker_connected,
                    "store": self._store_answers,
                    "relay": self._relay_alive,
                },
                self.settings.health_host,
                self.settings.health_port,
            )

    def serve(
        self,
        commands: Mapping[type[Message], CommandHandler] | None = None,
        events: Mapping[type[Message], EventHandler] | None = None,
        *,
        stand_in: bool = False,
    ) -> None:
        """Register the service's handlers (before :meth:`start`); a test's ``stand_in``
        for a service may handle only some of the events its queue takes."""
        self.bus.serve_commands({Ping: self._ping, **(commands or {})})
        if events:
            self.bus.consume_events(events, stand_in=stand_in)

    async def _ping(self, _: Message, __: Envelope) -> Reply:
        return Reply.ok({"service": self.name})

    # Readiness ----------------------------------------------------------------------

    async def _broker_connected(self) -> bool:
        return await self.bus.broker.ping(timeout=CHECK_SECONDS)

    async def _store_answers(self) -> bool:
        await self.db.command("ping")
        return True

    async def _relay_alive(self) -> bool:
        # The relay retries every store or broker error itself; a task that has ended will
        # never publish again, so the commits of this process would wait in the outbox.
        return self._relay_task is not None and not self._relay_task.done()

    def _relay_ended(self, task: asyncio.Task[None]) -> None:
        error = None if task.cancelled() else task.exception()
        if not self._stopping:
            log.error("outbox relay ended; this process no longer publishes", error=repr(error))

    # Lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        # The probes answer first: while the rest starts, the process is alive but not ready.
        if self.health is not None:
            await self.health.start()
        try:
            await self.store.ensure_indexes()
            saga_slot = await self.saga_slot.take() if self.bus.consumes_saga else 0
            await self.bus.start(saga_slot=saga_slot)
        except BaseException:
            await self.saga_slot.give_back()
            if self.health is not None:
                await self.health.stop()
            raise
        self._relay_task = asyncio.create_task(self.relay.run(), name=f"{self.name}-relay")
        self._relay_task.add_done_callback(self._relay_ended)
        log.info(
            "service started",
            namespace=self.settings.namespace,
            **({"saga_slot": self.saga_slot.number} if self.bus.consumes_saga else {}),
        )

    async def stop(self) -> None:
        self._stopping = True
        relay_stopped = True
        if self._relay_task is not None:
            self._relay_task.cancel()
            # wait, not await: a relay that died of an error must not keep the rest running.
            done, _ = await asyncio.wait([self._relay_task], timeout=FLUSH_SECONDS)
            relay_stopped = bool(done)
            if not relay_stopped:
                log.error("outbox relay did not stop when cancelled; stopping without it")
        with contextlib.suppress(Exception):
            # What this process appended goes out now, in order, rather than at the next
            # sweep (the relay's cancelled batch is back at the head of its queue). An
            # append a cancelled handler began may still be on its way to the store: it
            # lands first, so that it is published too.
            if relay_stopped:
                async with asyncio.timeout(FLUSH_SECONDS):
                    await self.store.appends_landed()
                    await self.relay.flush()
        await self.bus.stop()
        await self.saga_slot.give_back()
        await self.mongo.close()
        # Last, so that probes during the shutdown see it as alive and not ready.
        if self.health is not None:
            await self.health.stop()
        log.info("service stopped")


# Container objects allocated, net, before the youngest generation is collected (Python's
# default is 700). A vote's objects are freed by their reference counts long before; at
# 700 a collection every few votes found them still in use and moved them into older
# generations, whose collections then had more to look through.
YOUNG_COLLECTION_THRESHOLD = 10_000


def leave_startup_heap_alone() -> None:
    """Keep the cyclic garbage collector off what the process built to start (modules,
    schemas, clients): those objects live as long as the process, yet every full
    collection looked through all of them (about 55 ms a time in the voting service, 5-8%
    of its CPU under load). Call once, when the process has started: a service's entry
    point, not a test that starts services in its own process."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, older, oldest)


async def run_until_signalled(runtime: ServiceRuntime) -> None:
    """Start the runtime, serve until SIGTERM or SIGINT, then stop cleanly."""
    configure_logging(runtime.name, runtime.settings.log_level, runtime.settings.log_format)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await runtime.start()
    leave_startup_heap_alone()
    try:
        await stop.wait()
    finally:
        await runtime.stop()
