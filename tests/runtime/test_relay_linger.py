"""The relay holds events no request waits for (a paid vote's debit) to send them
together, and never lets that reorder a stream or lose one at a stop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import pytest

from contracts import Envelope
from contracts.topology import UNHURRIED_EVENTS, saga_shard
from contracts.voting import VoteCast, VoteRejected, VoteRequested
from eventing.relay import OutboxRelay
from eventing.service import ServiceRuntime
from tests.support import eventually, registered, stop_relay, unswept_relay

# Longer than any test: a lingering event goes only when something else sends it.
FOREVER = 3600.0


class Messages:
    """What the relay publishes, one entry per message."""

    def __init__(self) -> None:
        self.sent: list[list[str]] = []  # each message's event types, in order

    async def publish(self, events: Sequence[Envelope]) -> None:
        self.sent.append([event.type for event in events])

    def types(self) -> list[str]:
        return [event_type for message in self.sent for event_type in message]


@pytest.fixture
async def own_relay(gateway: ServiceRuntime) -> AsyncIterator[ServiceRuntime]:
    """The gateway's runtime with its own relay stopped, for a test's relay to publish
    what it appends."""
    await stop_relay(gateway)
    yield gateway


@contextlib.asynccontextmanager
async def lingering_relay(
    gateway: ServiceRuntime, linger: float
) -> AsyncIterator[tuple[OutboxRelay, Messages]]:
    """A relay of the gateway's appends running, as in a service, until the block ends,
    and the messages it sends."""
    messages = Messages()
    relay = unswept_relay(gateway, messages.publish, linger_seconds=linger)
    running = asyncio.create_task(relay.run())
    try:
        yield relay, messages
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


def cast(user_id: str) -> Envelope:
    return Envelope.wrap(
        VoteCast(vote_id=f"v-{user_id}", voting_id="t", user_id=user_id, option_id="a", kind="paid")
    )


def same_shard_voters(count: int, shards: int) -> list[str]:
    """Voters whose saga events share a routing key, so one message can hold them all."""
    voters = (f"linger-{n}" for n in range(1000))
    return [v for v in voters if saga_shard(v, shards) == 0][:count]


async def test_debits_wait_to_go_as_one_message_while_other_events_go_at_once(
    own_relay: ServiceRuntime,
) -> None:
    async with lingering_relay(own_relay, FOREVER) as (relay, messages):
        voters = same_shard_voters(3, own_relay.settings.saga_shards)
        assert cast(voters[0]).routing_key in UNHURRIED_EVENTS
        for voter in voters:
            await own_relay.store.append(f"vote-{voter}", 1, [cast(voter)])
        await own_relay.store.append("user-after", 0, [Envelope.wrap(registered("after"))])
        # Appended last, published: the debits before it were handled, and wait.
        await eventually(lambda: messages.types() == ["gateway.UserRegistered"])

    await relay.flush()  # a stopping process sends what waits
    assert messages.sent[1:] == [["voting.VoteCast"] * 3]
    await own_relay.store.marks_landed()
    assert await own_relay.store.unpublished(10) == []


async def test_a_waiting_event_goes_when_it_has_waited_its_time(
    own_relay: ServiceRuntime,
) -> None:
    async with lingering_relay(own_relay, 0.05) as (_, messages):
        await own_relay.store.append("vote-due", 1, [cast("due")])
        await eventually(lambda: messages.types() == ["voting.VoteCast"])


async def test_an_event_that_does_not_wait_takes_its_streams_waiting_events_ahead_of_it(
    own_relay: ServiceRuntime,
) -> None:
    # A paid vote rejected, and the voter's next request on the same stream: the wallet
    # must hear the release before the new request.
    async with lingering_relay(own_relay, FOREVER) as (_, messages):
        rejected = VoteRejected(vote_id="v1", voting_id="t", user_id="u", reason="VOTING_CLOSED")
        again = VoteRequested(vote_id="v2", voting_id="t", user_id="u", option_id="a", cost=1)
        await own_relay.store.append("vote-again", 1, [Envelope.wrap(rejected)])
        await own_relay.store.append("vote-again", 2, [Envelope.wrap(again)])
        await eventually(lambda: len(messages.types()) == 2)
        assert messages.types() == ["voting.VoteRejected", "voting.VoteRequested"]
