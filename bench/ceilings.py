"""The ceilings a vote's cost is set against, measured in the same run: the broker's
(persistent, confirmed publish-and-consume on a quorum queue) and the store's (commit-sized
inserts, one per command and grouped as the event store writes them)."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from typing import Any

import aio_pika
from pymongo import AsyncMongoClient

from eventing.gather import bounded
from eventing.grouped import GroupedInserts
from eventing.settings import RuntimeSettings


@dataclass(frozen=True)
class Ceiling:
    messages: int
    seconds: float
    publish_seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


async def broker_ceiling(url: str, queue_name: str, messages: int, in_flight: int) -> Ceiling:
    """Persistent, confirmed publishes to a fresh quorum queue, consumed and acked.

    Publisher and consumer have a connection each, as two services would.
    """
    publisher = await aio_pika.connect(url)
    consumer = await aio_pika.connect(url)
    try:
        publish_channel = await publisher.channel(publisher_confirms=True)
        consume_channel = await consumer.channel()
        await consume_channel.set_qos(prefetch_count=RuntimeSettings().prefetch)
        queue = await consume_channel.declare_queue(
            queue_name, durable=True, arguments={"x-queue-type": "quorum"}
        )
        done = asyncio.Event()
        received = 0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal received
            await message.ack()
            received += 1
            if received >= messages:
                done.set()

        await queue.consume(on_message)
        body = b"x" * 600  # about an event envelope's size
        started = time.perf_counter()
        await bounded(
            (_publish(publish_channel, queue_name, body) for _ in range(messages)), in_flight
        )
        published = time.perf_counter() - started
        await done.wait()
        return Ceiling(messages, time.perf_counter() - started, published)
    finally:
        await publisher.close()
        await consumer.close()


async def _publish(channel: aio_pika.abc.AbstractChannel, queue: str, body: bytes) -> None:
    message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
    await channel.default_exchange.publish(message, routing_key=queue)


@dataclass(frozen=True)
class StoreCeiling:
    inserts: int
    seconds: float
    latencies_ms: list[float]
    grouped_seconds: float  # the same inserts through eventing.grouped

    @property
    def grouped_rate(self) -> float:
        return self.inserts / self.grouped_seconds

    @property
    def rate(self) -> float:
        return self.inserts / self.seconds

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies_ms)


async def store_ceiling(settings: RuntimeSettings, inserts: int, in_flight: int) -> StoreCeiling:
    """Commit-sized inserts, many at once, on the run's own database: one per command,
    then grouped with the concurrent ones as the event store writes them."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url)
    try:
        commits = client[settings.database_name("bench")]["commits"]
        body = {"type": "bench.Probe", "payload": {"text": "x" * 400}}

        def commit(n: int, run: str) -> dict[str, Any]:
            return {"_id": f"probe-{run}-{n}@1", "version": 1, "events": [body]}

        async def insert(n: int) -> float:
            started = time.perf_counter()
            await commits.insert_one(commit(n, "single"))
            return (time.perf_counter() - started) * 1000

        started = time.perf_counter()
        latencies = await bounded((insert(n) for n in range(inserts)), in_flight)
        seconds = time.perf_counter() - started

        grouped = GroupedInserts(commits)
        started = time.perf_counter()
        await bounded((grouped.insert(commit(n, "grouped")) for n in range(inserts)), in_flight)
        return StoreCeiling(inserts, seconds, latencies, time.perf_counter() - started)
    finally:
        await client.close()
