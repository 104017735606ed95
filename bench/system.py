"""The benchmark's own processes and data: the environment the services run in, and
dropping the run's databases, queues and exchanges afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from typing import Any

import aio_pika
from pymongo import AsyncMongoClient

from eventing.bus import Bus
from eventing.settings import RuntimeSettings
from scripts.launch import free_port


def bench_env(namespace: str) -> dict[str, str]:
    settings = RuntimeSettings()
    return {
        **os.environ,
        "LIVEVOTE_RABBITMQ_URL": settings.rabbitmq_url,
        "LIVEVOTE_MONGODB_URL": settings.mongodb_url,
        "LIVEVOTE_NAMESPACE": namespace,
        "LIVEVOTE_PORT": str(free_port()),
        "LIVEVOTE_ADMIN_EMAIL": f"admin@{namespace}.livevote.dev",
        "LIVEVOTE_ADMIN_PASSWORD": uuid.uuid4().hex,
        "LIVEVOTE_JWT_SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
    }


def runtime_settings(env: dict[str, str]) -> RuntimeSettings:
    return RuntimeSettings(
        rabbitmq_url=env["LIVEVOTE_RABBITMQ_URL"],
        mongodb_url=env["LIVEVOTE_MONGODB_URL"],
        namespace=env["LIVEVOTE_NAMESPACE"],
    )


async def drop_namespace(settings: RuntimeSettings, extra_queues: Iterable[str]) -> None:
    """Remove the run's databases, queues and exchanges."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url)
    try:
        for name in await client.list_database_names():
            if name.startswith(f"{settings.namespace}_"):
                await client.drop_database(name)
    finally:
        await client.close()
    bus = Bus(settings, "bench")
    connection = await aio_pika.connect(settings.rabbitmq_url)
    try:
        channel = await connection.channel()
        for queue in [q.name for q in bus.all_queues()] + list(extra_queues):
            await channel.queue_delete(queue)
        for exchange in ("events", "unrouted", "unheard", "dead-letter"):
            await channel.exchange_delete(bus.names(exchange))
    finally:
        await connection.close()
