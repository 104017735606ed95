"""Dead letters on a real broker: what died is listed with its cause, and once the cause
is fixed a replay hands it back to its queue, where it has its effect once."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import aio_pika
import httpx

from eventing.dead_letters import DeadLetters
from eventing.service import ServiceRuntime
from eventing.settings import RuntimeSettings
from tests.runtime.test_messaging import Recorder, start_consumer, user_registered
from tests.support import eventually


async def test_a_dead_letter_is_listed_with_its_cause_and_replayed_once_fixed(
    settings: RuntimeSettings, gateway: ServiceRuntime
) -> None:
    letters = DeadLetters(settings)
    broken, recorder = await start_consumer(settings, fail_for={"u1"})
    try:
        poison = user_registered(1)
        await gateway.bus.publish_event(poison)
        await eventually(lambda: letters.count(), timeout=30)
        [letter], _ = await letters.listing(10)
    finally:
        await broken.stop()
    assert letter.id == poison.message_id
    # What the dead-letter alert reads (deploy/k8s/base/monitoring): RabbitMQ's own
    # Prometheus endpoint counts it in the namespace's dead-letter queue.
    await eventually(lambda: _prometheus_depth(f"{settings.namespace}.dead-letters"), timeout=30)
    assert letter.type == "gateway.UserRegistered"
    assert letter.queue == "wallet.events"
    assert letter.reason == "delivery_limit"
    assert '"u1"' in letter.body
    # Looking does not take it away.
    assert await letters.count() == 1

    fixed, recorder = await start_consumer(settings)
    try:
        assert (await letters.replay()).replayed == 1
        assert await eventually(lambda: _applied(recorder), timeout=30) == {"u1": 1}
        assert await letters.count() == 0
    finally:
        await fixed.stop()


async def test_a_dead_letter_whose_queue_is_gone_is_kept(
    settings: RuntimeSettings, gateway: ServiceRuntime
) -> None:
    letters = DeadLetters(settings)
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        death = {"queue": f"{settings.namespace}.no-such-queue", "reason": "rejected", "count": 1}
        await channel.default_exchange.publish(
            aio_pika.Message(b"{}", message_id="orphan", headers={"x-death": [death]}),
            routing_key=letters.queue,
        )
    await eventually(lambda: letters.count(), timeout=10)
    assert (await letters.replay()).model_dump() == {"replayed": 0, "kept": 1}
    [letter], _ = await letters.listing(10)
    assert (letter.id, letter.reason) == ("orphan", "rejected")


async def _applied(recorder: Recorder) -> dict[str, int] | None:
    return await recorder.applied() or None


async def _cli(settings: RuntimeSettings, *args: str) -> tuple[int, str, str]:
    """The operators' command line, run as they run it, against this test's namespace."""
    env = {
        **os.environ,
        "LIVEVOTE_RABBITMQ_URL": settings.rabbitmq_url,
        "LIVEVOTE_NAMESPACE": settings.namespace,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "eventing.dead_letters_cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_command_line_lists_shows_and_replays_a_poison_message_once_fixed(
    settings: RuntimeSettings, gateway: ServiceRuntime
) -> None:
    letters = DeadLetters(settings)
    broken, _ = await start_consumer(settings, fail_for={"u1", "u2"})
    try:
        poison, other = user_registered(1), user_registered(2)
        await gateway.bus.publish_event(poison)
        await gateway.bus.publish_event(other)
        await eventually(lambda: _count_is(letters, 2), timeout=30)
    finally:
        await broken.stop()

    status, out, _ = await _cli(settings, "count")
    assert (status, out.strip()) == (0, "2")
    status, out, _ = await _cli(settings, "list", "--json")
    listed = [json.loads(line) for line in out.splitlines()]
    assert status == 0
    assert {(letter["id"], letter["queue"], letter["reason"]) for letter in listed} == {
        (poison.message_id, "wallet.events", "delivery_limit"),
        (other.message_id, "wallet.events", "delivery_limit"),
    }
    status, out, _ = await _cli(settings, "show", poison.message_id)
    shown = json.loads(out)
    assert status == 0
    assert shown["type"] == "gateway.UserRegistered"
    assert shown["correlation_id"] == poison.correlation_id
    assert json.loads(shown["body"])["payload"]["user_id"] == "u1"
    status, _, err = await _cli(settings, "show", "no-such-message")
    assert status == 1 and "no dead letter" in err
    assert await letters.count() == 2  # looking took nothing away

    fixed, recorder = await start_consumer(settings)
    try:
        status, out, _ = await _cli(settings, "replay", poison.message_id)
        assert (status, out.strip()) == (0, "replayed 1, kept 0 (their queue is gone)")
        assert await eventually(lambda: _applied(recorder), timeout=30) == {"u1": 1}
        # Only the one named went back: the other is still a dead letter.
        [left], _ = await letters.listing(10)
        assert left.id == other.message_id
    finally:
        await fixed.stop()


async def _count_is(letters: DeadLetters, expected: int) -> bool:
    return await letters.count() == expected


async def _prometheus_depth(queue: str) -> float:
    """The queue's depth as RabbitMQ's Prometheus endpoint gives it (per-object metrics)."""
    url = os.environ.get("LIVEVOTE_RABBITMQ_PROMETHEUS_URL", "http://127.0.0.1:15692/metrics")
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(url)).text
    return sum(
        float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line.startswith("rabbitmq_queue_messages{") and f'queue="{queue}"' in line
    )
