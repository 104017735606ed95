"""Real servers for the tests: RabbitMQ and a MongoDB-wire database.

From RABBITMQ_URL / MONGODB_URL when set; else from testcontainers when a Docker engine
answers; else from the local stack (scripts/stack.sh up: RabbitMQ, FerretDB, stripe-mock).
Every test gets its own namespace, so its queues, exchanges and databases are its own.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import pytest
from pymongo import AsyncMongoClient

from eventing.service import ServiceRuntime
from eventing.settings import RuntimeSettings
from scripts.fake_fcm import FakeFcm
from scripts.launch import free_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Servers:
    rabbitmq_url: str
    mongodb_url: str
    # Only a broker this test run controls can be restarted by a fault test.
    restart_broker: object | None


def _docker_available() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env().ping()
    except Exception:
        return False
    return True


RABBITMQCTL = [str(ROOT / "scripts/stack.sh"), "rabbitmqctl", "-q"]


def _local_stack_restart() -> None:
    subprocess.run([*RABBITMQCTL, "stop_app"], check=True, capture_output=True)
    subprocess.run([*RABBITMQCTL, "start_app"], check=True, capture_output=True)


def _rabbitmqctl(*args: str) -> str:
    """What the local broker's rabbitmqctl prints for ``args``."""
    return subprocess.run([*RABBITMQCTL, *args], check=True, capture_output=True, text=True).stdout


def consumer_counts(namespace: str) -> dict[str, int]:
    """Consumers attached to each of the namespace's queues, as the local broker sees them.

    (list_consumers, not list_queues: the latter's count for quorum queues comes from
    periodic statistics and lags.)
    """
    listing = _rabbitmqctl("list_consumers", "queue_name", "consumer_tag")
    counts: dict[str, int] = {}
    for line in listing.splitlines():
        queue = line.partition("\t")[0]
        if queue.startswith(f"{namespace}."):
            counts[queue] = counts.get(queue, 0) + 1
    return counts


def queued_messages(queue: str) -> int:
    """Messages in a queue of the local broker, ready or delivered and not yet acked."""
    listing = _rabbitmqctl("list_queues", "name", "messages")
    for line in listing.splitlines():
        name, _, count = line.partition("\t")
        if name == queue:
            return int(count)
    return 0


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    rabbitmq_url = os.environ.get("RABBITMQ_URL")
    mongodb_url = os.environ.get("MONGODB_URL")
    if rabbitmq_url and mongodb_url:
        yield Servers(rabbitmq_url, mongodb_url, restart_broker=None)
        return
    if _docker_available():
        from testcontainers.mongodb import MongoDbContainer
        from testcontainers.rabbitmq import RabbitMqContainer

        with RabbitMqContainer("rabbitmq:3.13") as rabbit, MongoDbContainer("mongo:7") as mongo:
            params = rabbit.get_connection_params()
            url = f"amqp://guest:guest@{params.host}:{params.port}/"
            yield Servers(url, mongo.get_connection_url(), restart_broker=None)
        return
    subprocess.run([str(ROOT / "scripts/stack.sh"), "up"], check=True)
    yield Servers(
        "amqp://guest:guest@127.0.0.1:5672/",
        "mongodb://127.0.0.1:27017/",
        restart_broker=_local_stack_restart,
    )


@pytest.fixture
async def settings(servers: Servers) -> AsyncIterator[RuntimeSettings]:
    namespace = f"t{uuid.uuid4().hex[:10]}"
    yield RuntimeSettings(
        rabbitmq_url=servers.rabbitmq_url,
        mongodb_url=servers.mongodb_url,
        namespace=namespace,
        delivery_limit=3,
        relay_sweep_seconds=0.1,
        relay_grace_seconds=0.5,
    )
    await drop_namespace(servers, namespace)


async def drop_namespace(servers: Servers, namespace: str) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(servers.mongodb_url)
    try:
        for name in await client.list_database_names():
            if name.startswith(f"{namespace}_"):
                await client.drop_database(name)
    finally:
        await client.close()
    connection = await aio_pika.connect(servers.rabbitmq_url)
    try:
        from contracts.topology import durable_queues

        queues = durable_queues(RuntimeSettings.model_fields["saga_shards"].default)
        queues += ["dead-letters", "unrouted", "probe"]
        channel = await connection.channel()
        for queue in queues:
            await channel.queue_delete(f"{namespace}.{queue}")
        for exchange in ("events", "unrouted", "unheard", "dead-letter"):
            await channel.exchange_delete(f"{namespace}.{exchange}")
    finally:
        await connection.close()


@pytest.fixture
async def gateway(settings: RuntimeSettings) -> AsyncIterator[ServiceRuntime]:
    """A runtime in the gateway's place: publishes as it would and asks other services."""
    runtime = ServiceRuntime("gateway", settings)
    runtime.serve()
    await runtime.start()
    yield runtime
    await runtime.stop()


@pytest.fixture(scope="session")
def fake_fcm() -> Iterator[FakeFcm]:
    """The project's fake FCM server, on a port of its own."""
    server = FakeFcm(free_port())
    server.start()
    yield server
    server.stop()
