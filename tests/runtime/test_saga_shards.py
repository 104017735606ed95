"""The paid-vote saga's queues: a voter's steps go to the process whose slot prefers their
shard, to the others at once when it is gone, and its slot to the next process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from contracts import Envelope
from contracts.topology import saga_shard
from contracts.voting import VoteRequested
from eventing.service import ServiceRuntime
from eventing.settings import RuntimeSettings
from tests.support import eventually

VOTERS = [f"voter-{n}" for n in range(40)]


@pytest.fixture
def settings(settings: RuntimeSettings) -> RuntimeSettings:
    """Two saga shards, for the processes of the tests and the gateway alike."""
    return settings.model_copy(update={"saga_shards": 2})


class Handled:
    """Which wallet process handled each voter's request."""

    def __init__(self) -> None:
        self.by: dict[str, list[str]] = {}

    def recorder(self, process: str) -> Callable[[VoteRequested, Envelope], object]:
        async def record(message: VoteRequested, _: Envelope) -> None:
            self.by.setdefault(message.user_id, []).append(process)

        return record

    def all_of(self, voters: list[str]) -> bool:
        return all(voter in self.by for voter in voters)


@asynccontextmanager
async def wallet(
    settings: RuntimeSettings, name: str, handled: Handled
) -> AsyncIterator[ServiceRuntime]:
    runtime = ServiceRuntime("wallet", settings)
    runtime.serve(events={VoteRequested: handled.recorder(name)}, stand_in=True)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def request_votes(gateway: ServiceRuntime, voters: list[str]) -> None:
    for voter in voters:
        requested = VoteRequested(
            vote_id=f"{voter}-vote", voting_id="x", user_id=voter, option_id="o", cost=1
        )
        await gateway.bus.publish_event(Envelope.wrap(requested))


def shard(voter: str) -> int:
    return saga_shard(voter, 2)


async def test_each_voters_steps_go_to_the_process_preferring_their_shard(
    settings: RuntimeSettings, gateway: ServiceRuntime
) -> None:
    handled = Handled()
    async with wallet(settings, "a", handled) as a, wallet(settings, "b", handled) as b:
        assert (a.saga_slot.number, b.saga_slot.number) == (0, 1)
        await request_votes(gateway, VOTERS)
        await eventually(lambda: handled.all_of(VOTERS))

    assert {voter: handled.by[voter] for voter in VOTERS} == {
        voter: ["a" if shard(voter) == 0 else "b"] for voter in VOTERS
    }
    assert {shard(voter) for voter in VOTERS} == {0, 1}


async def test_a_shard_whose_process_stopped_goes_to_the_others_and_its_slot_to_the_next(
    settings: RuntimeSettings, gateway: ServiceRuntime
) -> None:
    handled = Handled()
    first, second = VOTERS[:20], VOTERS[20:]
    async with wallet(settings, "b", handled) as b:
        async with wallet(settings, "a", handled) as a:
            assert (b.saga_slot.number, a.saga_slot.number) == (0, 1)
        # a is gone: b takes both shards at once.
        await request_votes(gateway, first)
        await eventually(lambda: handled.all_of(first))
        assert {handled.by[voter][0] for voter in first} == {"b"}

        async with wallet(settings, "c", handled) as c:
            assert c.saga_slot.number == 1  # the one a gave back
            await request_votes(gateway, second)
            await eventually(lambda: handled.all_of(second))

    assert {voter: handled.by[voter] for voter in second} == {
        voter: ["b" if shard(voter) == 0 else "c"] for voter in second
    }


async def test_a_process_that_died_holding_its_slot_loses_no_step(
    settings: RuntimeSettings, gateway: ServiceRuntime
) -> None:
    handled = Handled()
    async with wallet(settings, "a", handled) as a:
        assert a.saga_slot.number == 0
        crashed = ServiceRuntime("wallet", settings)
        crashed.serve(events={VoteRequested: handled.recorder("crashed")}, stand_in=True)
        await crashed.start()
        assert crashed.saga_slot.number == 1
        # As after a kill: its connection gone, its slot's lease no longer renewed but
        # still running.
        assert crashed.saga_slot._renewing is not None
        crashed.saga_slot._renewing.cancel()
        await crashed.bus.stop()
        await request_votes(gateway, VOTERS)
        await eventually(lambda: handled.all_of(VOTERS))
        assert {handled.by[voter][0] for voter in VOTERS} == {"a"}

        async with wallet(settings, "next", handled) as restarted:
            # The dead process's slot is not free yet: the next number, preferring shard 0
            # with a (a preference shared, not a fault).
            assert restarted.saga_slot.number == 2
        await crashed.stop()  # what the kill left running in this test's process
