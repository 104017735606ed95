"""Dead letters on a real broker: what died is listed with its cause, and once the cause
is fixed a replay hands it back to its queue, where it has its effect once."""

from __future__ import annotations

import aio_pika

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
        [letter] = await letters.peek(10)
    finally:
        await broken.stop()
    assert letter.id == poison.message_id
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
    [letter] = await letters.peek(10)
    assert (letter.id, letter.reason) == ("orphan", "rejected")


async def _applied(recorder: Recorder) -> dict[str, int] | None:
    return await recorder.applied() or None
