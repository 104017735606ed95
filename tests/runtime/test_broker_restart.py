"""RabbitMQ restarts while messages flow: consumers come back, nothing confirmed is lost."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from contracts import Envelope
from contracts.system import Ping
from eventing.bus import PublishFailed, ServiceUnavailable
from eventing.service import ServiceRuntime
from eventing.settings import RuntimeSettings
from tests.conftest import Servers, consumer_counts
from tests.runtime.test_messaging import start_consumer, user_registered
from tests.support import eventually


async def test_consumers_return_by_themselves_and_no_confirmed_message_is_lost(
    settings: RuntimeSettings, servers: Servers
) -> None:
    if servers.restart_broker is None:
        pytest.skip("the broker is not one this test run started, so it cannot restart it")
    restart: Any = servers.restart_broker
    producer = ServiceRuntime("gateway", settings)
    producer.serve()
    await producer.start()
    consumer, recorder = await start_consumer(settings)
    confirmed: list[str] = []
    stored: list[str] = []
    stop = asyncio.Event()

    async def publish_directly() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            envelope = user_registered(100_000 + n)
            with contextlib.suppress(Exception):
                await producer.bus.publish_event(envelope)
                confirmed.append(f"u{100_000 + n}")
            await asyncio.sleep(0.01)

    async def append_to_outbox() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            await producer.store.append(f"user-{n}", 0, [user_registered(n)])
            stored.append(f"u{n}")
            await asyncio.sleep(0.01)

    try:
        flows = [asyncio.create_task(publish_directly()), asyncio.create_task(append_to_outbox())]
        await eventually(lambda: len(recorder.received) > 20)
        await asyncio.to_thread(restart)
        await eventually(_answers_ping(consumer, producer), timeout=60)
        received_before = len(recorder.received)
        # Messages keep flowing after the restart.
        await eventually(lambda: len(recorder.received) > received_before + 10, timeout=30)
        stop.set()
        await asyncio.gather(*flows)

        assert len(recorder.received) > received_before, "consumers did not come back"
        expected = set(confirmed) | set(stored)
        applied = await eventually(_applied_all(recorder, expected), timeout=60)
        assert expected <= set(applied)
        assert all(count == 1 for count in applied.values())
        consumers = consumer_counts(settings.namespace)
        assert consumers[f"{settings.namespace}.wallet.events"] == 1
        assert consumers[f"{settings.namespace}.wallet.commands"] == 1
        assert consumers[f"{settings.namespace}.gateway.commands"] == 1
    finally:
        stop.set()
        await consumer.stop()
        await producer.stop()


def _answers_ping(consumer: ServiceRuntime, producer: ServiceRuntime) -> Any:
    async def probe() -> bool:
        try:
            reply = await producer.bus.request("wallet", Envelope.wrap(Ping()), timeout=1.0)
        except (ServiceUnavailable, PublishFailed, Exception):
            return False
        return reply.result == {"service": "wallet"}

    return probe


def _applied_all(recorder: Any, expected: set[str]) -> Any:
    async def probe() -> dict[str, int] | None:
        applied = await recorder.applied()
        return applied if expected <= set(applied) else None

    return probe
