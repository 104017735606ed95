"""The topology a service declares: on a broker an earlier version declared it on, and
for events that no queue takes."""

from __future__ import annotations

from datetime import UTC, datetime

import aio_pika
import pytest

from contracts import Envelope, Message
from contracts.envelope import message_types
from contracts.scheduler import VotingOpenTimeReached
from contracts.topology import (
    EVENT_SUBSCRIPTIONS,
    SAGA_SUBSCRIPTIONS,
    UNHEARD_EVENTS,
    matches,
    routing_keys,
)
from contracts.voting import VoteCast
from contracts.wallet import CreditsDebited
from eventing.bus import Bus
from eventing.service import ServiceRuntime
from eventing.settings import RuntimeSettings

LATER = datetime(2030, 1, 1, tzinfo=UTC)


async def test_a_retired_binding_is_removed_and_routes_nothing_any_more(
    settings: RuntimeSettings,
) -> None:
    names = Bus(settings, "test").names
    connection = await aio_pika.connect(settings.rabbitmq_url)
    first = ServiceRuntime("scheduler", settings)
    await first.bus.start()
    try:
        channel = await connection.channel()
        events = await channel.get_exchange(names("events"))
        queue = await channel.get_queue(names("voting.events"))
        # As the version before declared it: voting's own events came back to it.
        await queue.bind(events, routing_key="voting.#")

        upgraded = ServiceRuntime("scheduler", settings)
        await upgraded.bus.start()
        try:
            free_vote = VoteCast(
                vote_id="v", voting_id="x", user_id="u", option_id="o", kind="free"
            )
            await upgraded.bus.publish_event(Envelope.wrap(free_vote))
            # Bound on purpose, and published after it: had the old binding stayed, the
            # vote would be the first message in the queue.
            marker = VotingOpenTimeReached(voting_id="x", due_at=LATER)
            await upgraded.bus.publish_event(Envelope.wrap(marker))

            first_message = await queue.get(timeout=10, fail=True)
            assert first_message is not None
            assert first_message.type == "scheduler.VotingOpenTimeReached"
        finally:
            await upgraded.bus.stop()
    finally:
        await first.bus.stop()
        await connection.close()


def test_every_event_published_is_taken_by_a_queue_or_known_to_go_unheard() -> None:
    # Else it would fill the unrouted queue, which should show routing mistakes only.
    keys = {key for message in message_types().values() for key in routing_keys(message)}
    taken = {
        key
        for key in keys
        for patterns in (*EVENT_SUBSCRIPTIONS.values(), *SAGA_SUBSCRIPTIONS.values())
        if any(matches(pattern, key) for pattern in patterns)
    }
    assert sorted(keys - taken - set(UNHEARD_EVENTS)) == []
    assert set(UNHEARD_EVENTS) <= keys  # no name there that nothing publishes


def test_a_broadcast_queue_may_not_wait_for_an_event_that_is_not_published(
    settings: RuntimeSettings,
) -> None:
    async def heard(event: Message, envelope: Envelope) -> None:
        pass

    bus = Bus(settings, "test")
    with pytest.raises(ValueError, match=r"wallet\.credits_debited"):
        bus.consume_broadcast({CreditsDebited: heard}, ["wallet.#"])
    bus.consume_broadcast({VoteCast: heard}, [VoteCast.binding("paid")])


async def test_an_unheard_event_is_dropped_and_a_mistake_is_kept_in_unrouted(
    settings: RuntimeSettings,
) -> None:
    names = Bus(settings, "test").names
    runtime = ServiceRuntime("scheduler", settings)
    await runtime.bus.start()
    connection = await aio_pika.connect(settings.rabbitmq_url)
    try:
        debited = CreditsDebited(user_id="u", reservation_id="r", voting_id="x", amount=1)
        await runtime.bus.publish_event(Envelope.wrap(debited))
        # Published after it, under a routing key nobody expects: had the unheard event
        # gone to unrouted, it would be first there.
        channel = await connection.channel(publisher_confirms=True)
        events = await channel.get_exchange(names("events"))
        await events.publish(aio_pika.Message(b"{}", type="mistake"), routing_key="nobody.mistake")

        unrouted = await channel.get_queue(names("unrouted"))
        first_message = await unrouted.get(timeout=10, fail=True)
        assert first_message is not None
        assert first_message.type == "mistake"
    finally:
        await runtime.bus.stop()
        await connection.close()
