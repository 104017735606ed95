"""The topology a service declares on a broker an earlier version declared it on."""

from __future__ import annotations

from datetime import UTC, datetime

import aio_pika

from contracts import Envelope
from contracts.voting import VoteCast
from contracts.wallet import CreditsReserved
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
            marker = CreditsReserved(
                reservation_id="r", user_id="u", voting_id="x", amount=1, expires_at=LATER
            )
            await upgraded.bus.publish_event(Envelope.wrap(marker))

            first_message = await queue.get(timeout=10, fail=True)
            assert first_message is not None
            assert first_message.type == "wallet.CreditsReserved"
        finally:
            await upgraded.bus.stop()
    finally:
        await first.bus.stop()
        await connection.close()
