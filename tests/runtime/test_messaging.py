"""The runtime on a real broker and store: relay crash, poison messages, broker restart."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from typing import Any

import aio_pika
import pytest

from contracts import Envelope, Message
from contracts.gateway import UserRegistered
from contracts.topology import UNPUBLISHED_EVENTS
from contracts.wallet import AccountOpened
from eventing.dedupe import ProcessedMessages
from eventing.relay import OutboxRelay
from eventing.service import ServiceRuntime
from eventing.settings import RuntimeSettings
from tests.conftest import Servers
from tests.support import eventually, registered, stop_relay, unswept_relay


def user_registered(n: int) -> Envelope:
    return Envelope.wrap(registered(f"u{n}"))


class Recorder:
    """A consumer of UserRegistered (on the wallet's queue) that counts what it sees."""

    def __init__(self, runtime: ServiceRuntime, fail_for: set[str] | None = None) -> None:
        self.received: Counter[str] = Counter()  # every delivery, duplicates included
        self.deliveries: Counter[str] = Counter()  # every run of the handler
        self.finished: Counter[str] = Counter()  # every delivery handled or skipped
        self.fail_for = fail_for or set()
        self._effects = runtime.db["effects"]
        self._handle_once = ProcessedMessages(runtime.db, "recorder").once(self.handle)
        runtime.serve(events={UserRegistered: self.receive}, stand_in=True)

    async def receive(self, event: Message, envelope: Envelope) -> None:
        assert isinstance(event, UserRegistered)
        self.received[event.user_id] += 1
        await self._handle_once(event, envelope)
        self.finished[event.user_id] += 1

    async def handle(self, event: Message, envelope: Envelope) -> None:
        assert isinstance(event, UserRegistered)
        self.deliveries[event.user_id] += 1
        if event.user_id in self.fail_for:
            raise RuntimeError("this handler always fails for this user")
        await self._effects.update_one(
            {"_id": event.user_id}, {"$inc": {"applied": 1}}, upsert=True
        )

    async def applied(self) -> dict[str, int]:
        return {d["_id"]: d["applied"] async for d in self._effects.find({})}


async def start_consumer(
    settings: RuntimeSettings, fail_for: set[str] | None = None
) -> tuple[ServiceRuntime, Recorder]:
    runtime = ServiceRuntime("wallet", settings)
    recorder = Recorder(runtime, fail_for)
    await runtime.start()
    return runtime, recorder


class RelayKilled(BaseException):
    """Stands for the process dying: nothing after it runs."""


async def test_relay_killed_between_publish_and_mark_redelivers_and_consumer_applies_once(
    settings: RuntimeSettings, gateway: ServiceRuntime
) -> None:
    consumer, recorder = await start_consumer(settings)
    try:
        # Stop the running relay so the test owns the publish/mark sequence.
        await stop_relay(gateway)
        await gateway.store.append("user-u1", 0, [user_registered(1)])

        def killed(*_: Any, **__: Any) -> None:
            raise RelayKilled

        dying = OutboxRelay(
            gateway.store, gateway.bus.publish_events, gateway.relay._lease, route=gateway.bus.route
        )
        dying._store = _StoreDyingOnMark(gateway.store, killed)  # type: ignore[assignment]
        with pytest.raises(RelayKilled):
            await dying.relay_once()
        await eventually(lambda: recorder.deliveries["u1"] == 1)

        # The restarted relay finds the commit still unpublished and publishes it again.
        assert len(await gateway.store.unpublished(10)) == 1
        restarted = OutboxRelay(
            gateway.store, gateway.bus.publish_events, gateway.relay._lease, route=gateway.bus.route
        )
        assert await restarted.relay_once() == 1
        assert await gateway.store.unpublished(10) == []  # a sweep's marks land before it ends

        await eventually(lambda: recorder.received["u1"] == 2)
        # Both copies are through the handler (applied or skipped): nothing more can come.
        await eventually(lambda: recorder.finished["u1"] == 2)
        assert await recorder.applied() == {"u1": 1}
        assert await consumer.db["processed_messages"].count_documents({}) == 1
    finally:
        await consumer.stop()


async def test_a_relay_cancelled_just_as_a_commit_arrives_still_stops(
    gateway: ServiceRuntime,
) -> None:
    # A stopping process cancels its relay; a commit appended in the same moment wakes the
    # relay too. Whichever step of the wake-up the cancel meets, the relay must end, or
    # the process never finishes stopping.
    published: list[str] = []

    async def publish(events: Sequence[Envelope]) -> None:
        published.extend(event.message_id for event in events)

    for spins in range(8):
        relay = unswept_relay(gateway, publish)
        running = asyncio.create_task(relay.run())
        await asyncio.sleep(0.3)  # past its first sweep, the relay waits for a commit
        await gateway.store.append(f"user-s{spins}", 0, [user_registered(spins)])
        for _ in range(spins):
            await asyncio.sleep(0)
        running.cancel()
        done, _ = await asyncio.wait([running], timeout=5)
        assert done, f"the relay went on running when cancelled {spins} loop turns after a commit"


async def test_an_event_no_process_hears_leaves_the_outbox_without_being_published(
    gateway: ServiceRuntime,
) -> None:
    await stop_relay(gateway)
    published: list[str] = []

    async def publish(events: Sequence[Envelope]) -> None:
        published.extend(event.type for event in events)

    relay = unswept_relay(gateway, publish)
    heard = await gateway.store.append("user-heard", 0, [user_registered(7)])
    kept = await gateway.store.append(
        "account-kept", 0, [Envelope.wrap(AccountOpened(user_id="kept"))]
    )
    assert kept.events[0].routing_key in UNPUBLISHED_EVENTS
    assert await relay.publish_appended() == 2
    assert published == [heard.events[0].type]
    await gateway.store.marks_landed()
    assert await gateway.store.unpublished(10) == []  # both are done with


class _StoreDyingOnMark:
    def __init__(self, store: Any, mark: Any) -> None:
        self._store = store
        self.mark_published = mark

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


async def test_a_duplicated_event_has_its_effect_once(
    settings: RuntimeSettings, gateway: ServiceRuntime
) -> None:
    consumer, recorder = await start_consumer(settings)
    try:
        envelope = user_registered(7)
        for _ in range(3):
            await gateway.bus.publish_event(envelope)
        await gateway.bus.publish_event(user_registered(8))
        applied = await eventually(_applied_count(recorder, 2))
        await eventually(lambda: recorder.received["u7"] == 3)
        await eventually(lambda: recorder.finished["u7"] == 3)
        assert await recorder.applied() == {"u7": 1, "u8": 1} == applied
    finally:
        await consumer.stop()


async def test_a_message_whose_handler_always_fails_is_dead_lettered_and_does_not_block(
    settings: RuntimeSettings, gateway: ServiceRuntime, servers: Servers
) -> None:
    consumer, recorder = await start_consumer(settings, fail_for={"u1"})
    try:
        poison = user_registered(1)
        await gateway.bus.publish_event(poison)
        for n in range(2, 12):
            await gateway.bus.publish_event(user_registered(n))

        applied = await eventually(_applied_count(recorder, 10))
        assert "u1" not in applied

        dead = await eventually(_dead_letters(servers, settings))
        assert [m.message_id for m in dead] == [poison.message_id]
        # The first delivery plus one per allowed redelivery, then no more: with the
        # consumer stopped (its handlers finished, what it held back in the queue), the
        # queue has nothing left that could be delivered again.
        await consumer.stop()
        assert recorder.deliveries["u1"] == settings.delivery_limit + 1
        assert await _ready_messages(servers, f"{settings.namespace}.wallet.events") == 0
    finally:
        await consumer.stop()


async def test_events_of_one_batch_are_each_handled_and_a_failing_one_is_retried_alone(
    settings: RuntimeSettings, gateway: ServiceRuntime, servers: Servers
) -> None:
    consumer, recorder = await start_consumer(settings, fail_for={"u1"})
    try:
        batch = [user_registered(n) for n in range(1, 11)]
        await gateway.bus.publish_events(batch)

        applied = await eventually(_applied_count(recorder, 9))
        assert applied == {f"u{n}": 1 for n in range(2, 11)}
        dead = await eventually(_dead_letters(servers, settings))
        assert [m.message_id for m in dead] == [batch[0].message_id]
        # Once in the batch, then on its own: the first delivery and each redelivery.
        assert recorder.deliveries["u1"] == 1 + settings.delivery_limit + 1
        assert all(recorder.deliveries[f"u{n}"] == 1 for n in range(2, 11))
    finally:
        await consumer.stop()


async def test_a_malformed_message_is_dead_lettered_at_once(
    settings: RuntimeSettings, gateway: ServiceRuntime, servers: Servers
) -> None:
    consumer, recorder = await start_consumer(settings)
    try:
        await gateway.bus.broker.publish(
            b'{"not": "an envelope"}',
            exchange=gateway.bus.events_exchange,
            routing_key="gateway.user_registered",
            persist=True,
            message_id="garbage-1",
        )
        await gateway.bus.publish_event(user_registered(2))
        await eventually(_applied_count(recorder, 1))
        dead = await eventually(_dead_letters(servers, settings))
        assert [m.message_id for m in dead] == ["garbage-1"]
    finally:
        await consumer.stop()


def _applied_count(recorder: Recorder, count: int) -> Any:
    async def probe() -> dict[str, int] | None:
        applied = await recorder.applied()
        return applied if len(applied) >= count else None

    return probe


async def _ready_messages(servers: Servers, queue: str) -> int:
    """Messages ready in a queue, as the queue itself counts them now (a passive declare;
    rabbitmqctl's counts of a quorum queue come from statistics seconds old)."""
    connection = await aio_pika.connect(servers.rabbitmq_url)
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)
    finally:
        await connection.close()


def _dead_letters(servers: Servers, settings: RuntimeSettings) -> Any:
    async def probe() -> list[aio_pika.abc.AbstractIncomingMessage]:
        connection = await aio_pika.connect(servers.rabbitmq_url)
        try:
            channel = await connection.channel()
            queue = await channel.get_queue(f"{settings.namespace}.dead-letters")
            messages = []
            while (message := await queue.get(fail=False, no_ack=False)) is not None:
                messages.append(message)
            for message in messages:
                await message.nack(requeue=True)
            return messages
        finally:
            await connection.close()

    return probe


async def test_a_stopping_process_publishes_the_append_its_cancelled_handler_began(
    settings: RuntimeSettings,
) -> None:
    # A stopping scheduler cancels its timer loop while a timer's append is on its way to
    # the store. The append lands after the cancel; it must go out before the process
    # ends, not wait for another process's sweep (with one replica: until a restart).
    runtime = ServiceRuntime("gateway", settings)
    await runtime.start()
    appending = asyncio.create_task(runtime.store.append("user-late", 0, [user_registered(1)]))
    await asyncio.sleep(0)  # handed to the group writer
    appending.cancel()
    await runtime.stop()

    reader = ServiceRuntime("gateway", settings)
    try:
        assert len(await reader.store.read("user-late")) == 1
        assert await reader.store.unpublished(10) == []
    finally:
        await reader.mongo.close()
