"""The voting service's side of the paid-vote saga, with the wallet's events published by a
peer standing in for the wallet."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from contracts import Envelope, ErrorCode, Message
from contracts.voting import (
    UNANSWERED_OUTCOME,
    CastVote,
    CountedVoters,
    GetMyVote,
    GetResults,
    VoteCast,
    VoteRejected,
    VoteRequested,
    Voters,
)
from contracts.wallet import CreditsReleased, CreditsReservationFailed, CreditsReserved
from eventing.service import ServiceRuntime
from services.voting.service import VotingService
from tests.support import eventually
from tests.voting.conftest import START, Voting


async def open_paid_voting(voting: Voting) -> tuple[str, str]:
    tile = await voting.schedule(kind="paid")
    voting.clock.advance(timedelta(minutes=15))
    return tile["id"], tile["options"][0]["id"]


async def vote_state(voting: Voting, voting_id: str, user_id: str) -> str:
    reply = await voting.ask(GetMyVote(voting_id=voting_id, user_id=user_id))
    return str(reply.result["status"]) if isinstance(reply.result, dict) else "none"


def state_is(
    voting: Voting, voting_id: str, user_id: str, expected: str
) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return await vote_state(voting, voting_id, user_id) == expected

    return probe


def reserved(
    request: VoteRequested, expires_in: timedelta = timedelta(seconds=30)
) -> CreditsReserved:
    return CreditsReserved(
        user_id=request.user_id,
        reservation_id=request.vote_id,
        voting_id=request.voting_id,
        amount=request.cost,
        expires_at=START + timedelta(minutes=15) + expires_in,
        answer_shard=request.answer_shard,
    )


def refused(request: VoteRequested) -> CreditsReservationFailed:
    return CreditsReservationFailed(
        user_id=request.user_id,
        reservation_id=request.vote_id,
        voting_id=request.voting_id,
        reason=ErrorCode.INSUFFICIENT_CREDITS,
        answer_shard=request.answer_shard,
    )


async def requested(voting: Voting, voting_id: str, user_id: str) -> VoteRequested:
    events = await voting.runtime.store.read(f"vote-{voting_id}:{user_id}")
    request = events[-1].message()
    assert isinstance(request, VoteRequested)
    return request


async def test_a_paid_vote_waits_for_its_credit_then_counts(voting: Voting) -> None:
    voting_id, option = await open_paid_voting(voting)
    pending = await voting.ask(CastVote(voting_id=voting_id, user_id="u1", option_id=option))
    assert pending.result is not None and pending.result["status"] == "pending"
    again = await voting.ask(CastVote(voting_id=voting_id, user_id="u1", option_id=option))
    assert again.error is not None and again.error.code == ErrorCode.ALREADY_VOTED

    request = await requested(voting, voting_id, "u1")
    reservation = reserved(request)
    # Delivered twice; the results are read once both deliveries are handled (the
    # vote's own stream says "confirmed" a moment before the results show it).
    await voting.handled.all(*[await voting.publish(reservation) for _ in range(2)])
    assert await vote_state(voting, voting_id, "u1") == "confirmed"
    results = await voting.ask(GetResults(voting_id=voting_id, is_admin=True))
    assert results.result is not None and results.result["total"] == 1
    cast = [e for e in await voting.runtime.store.read(f"vote-{voting_id}:u1")]
    assert [e.type for e in cast] == ["voting.VoteRequested", "voting.VoteCast"]


async def test_a_wallet_answering_within_the_wait_gives_a_confirmed_answer(
    voting: Voting, gateway: ServiceRuntime
) -> None:
    voting_id, option = await open_paid_voting(voting)
    wallet = ServiceRuntime("wallet", voting.runtime.settings)

    async def reserve(event: Message, _: Envelope) -> None:
        assert isinstance(event, VoteRequested)
        await gateway.bus.publish_event(Envelope.wrap(reserved(event)))

    wallet.serve(events={VoteRequested: reserve}, stand_in=True)
    await wallet.start()
    try:
        reply = await voting.ask(CastVote(voting_id=voting_id, user_id="u1", option_id=option))
        assert reply.result is not None and reply.result["status"] == "confirmed", reply
    finally:
        await wallet.stop()


async def test_only_an_outcome_no_request_here_waits_for_is_broadcast(
    voting: Voting, gateway: ServiceRuntime
) -> None:
    # A gateway hears the broadcast outcomes, for the voter's sockets: one its request
    # answered is heard by nobody.
    voting_id, option = await open_paid_voting(voting)
    heard: list[str] = []

    async def hear(event: Message, _: Envelope) -> None:
        assert isinstance(event, VoteCast)
        heard.append(event.user_id)

    listener = ServiceRuntime("gateway", voting.runtime.settings)
    listener.bus.consume_broadcast({VoteCast: hear}, [UNANSWERED_OUTCOME])
    wallet = ServiceRuntime("wallet", voting.runtime.settings)

    async def reserve_for_u1(event: Message, _: Envelope) -> None:
        assert isinstance(event, VoteRequested)
        if event.user_id == "u1":
            await gateway.bus.publish_event(Envelope.wrap(reserved(event)))

    wallet.serve(events={VoteRequested: reserve_for_u1}, stand_in=True)
    await listener.start()
    await wallet.start()
    try:
        answered = await voting.ask(CastVote(voting_id=voting_id, user_id="u1", option_id=option))
        assert answered.result is not None and answered.result["status"] == "confirmed"
        # u2's reservation comes after its request gave up waiting (202).
        late = await voting.ask(CastVote(voting_id=voting_id, user_id="u2", option_id=option))
        assert late.result is not None and late.result["status"] == "pending"
        await voting.publish(reserved(await requested(voting, voting_id, "u2")))

        # Broadcast after u1's would have been, by the same process: u2's comes alone.
        await eventually(lambda: heard == ["u2"])
    finally:
        await wallet.stop()
        await listener.stop()


async def test_the_wallets_answer_comes_back_to_the_process_holding_the_request(
    voting: Voting, gateway: ServiceRuntime
) -> None:
    voting_id, option = await open_paid_voting(voting)
    other = VotingService(voting.runtime.settings, voting.clock)
    outcomes: list[str] = []
    markers: list[str] = []

    async def hear(event: Message, _: Envelope) -> None:
        assert isinstance(event, VoteCast | VoteRejected)
        (markers if event.vote_id == "marker" else outcomes).append(event.user_id)

    listener = ServiceRuntime("gateway", voting.runtime.settings)
    listener.bus.consume_broadcast({VoteCast: hear, VoteRejected: hear}, [UNANSWERED_OUTCOME])
    wallet = ServiceRuntime("wallet", voting.runtime.settings)

    async def reserve(event: Message, _: Envelope) -> None:
        assert isinstance(event, VoteRequested)
        await gateway.bus.publish_event(Envelope.wrap(reserved(event)))

    wallet.serve(events={VoteRequested: reserve}, stand_in=True)
    processes = (voting.runtime, other)
    await listener.start()
    await wallet.start()
    await other.start()
    try:
        assert {process.bus.preferred_saga_shard for process in processes} == {0, 1}
        # The requests go to either process; each waits there for its outcome.
        voters = [f"u{n}" for n in range(20)]
        replies = await asyncio.gather(
            *(
                voting.ask(CastVote(voting_id=voting_id, user_id=v, option_id=option))
                for v in voters
            )
        )
        assert [reply.result and reply.result["status"] for reply in replies] == ["confirmed"] * 20

        # What a process broadcasts reaches the listener in order: once its marker is
        # heard, so is any outcome it settled for a request the other process held.
        for n, process in enumerate(processes):
            marker = VoteRejected(vote_id="marker", voting_id=voting_id, user_id=f"{n}", reason="")
            await process.bus.broadcast(Envelope.wrap(marker), UNANSWERED_OUTCOME)
        await eventually(lambda: len(markers) == 2)
        assert outcomes == []
    finally:
        await other.stop()
        await wallet.stop()
        await listener.stop()


async def test_no_credit_rejects_the_vote_and_frees_the_slot(voting: Voting) -> None:
    voting_id, option = await open_paid_voting(voting)
    await voting.ask(CastVote(voting_id=voting_id, user_id="u1", option_id=option))
    request = await requested(voting, voting_id, "u1")
    await voting.publish(refused(request))
    await eventually(state_is(voting, voting_id, "u1", "rejected"))
    # A late copy of the reservation for the rejected request changes nothing.
    await voting.handled.all(await voting.publish(reserved(request)))
    assert await vote_state(voting, voting_id, "u1") == "rejected"

    retry = await voting.ask(CastVote(voting_id=voting_id, user_id="u1", option_id=option))
    assert retry.result is not None and retry.result["status"] == "pending"
    second = await requested(voting, voting_id, "u1")
    assert second.vote_id != request.vote_id
    assert await total(voting, voting_id) == 0

    await voting.handled.all(await voting.publish(reserved(second)))
    assert await total(voting, voting_id) == 1


async def test_only_counted_votes_count_for_the_alert(voting: Voting) -> None:
    voting_id, option = await open_paid_voting(voting)
    for user in ("counted", "pending", "refused"):
        await voting.ask(CastVote(voting_id=voting_id, user_id=user, option_id=option))
    await voting.handled.all(
        await voting.publish(reserved(await requested(voting, voting_id, "counted")))
    )
    failed = refused(await requested(voting, voting_id, "refused"))
    await voting.handled.all(await voting.publish(failed))

    asked = ["counted", "pending", "refused", "never voted", "counted"]
    reply = await voting.ask(CountedVoters(voting_id=voting_id, user_ids=asked))

    assert reply.error is None and Voters.model_validate(reply.result).user_ids == [
        "counted",
        "counted",
    ]
    elsewhere = await voting.ask(CountedVoters(voting_id="another", user_ids=["counted"]))
    assert Voters.model_validate(elsewhere.result).user_ids == []


async def total(voting: Voting, voting_id: str) -> int:
    """The votes counted in the voting's results."""
    results = await voting.ask(GetResults(voting_id=voting_id, is_admin=True))
    assert results.result is not None
    return int(results.result["total"])


async def test_a_reservation_about_to_lapse_or_timed_out_is_not_used(voting: Voting) -> None:
    voting_id, option = await open_paid_voting(voting)
    for user in ("u1", "u2"):
        await voting.ask(CastVote(voting_id=voting_id, user_id=user, option_id=option))
    lapsing = await requested(voting, voting_id, "u1")
    await voting.publish(reserved(lapsing, expires_in=timedelta(seconds=1)))
    timed_out = await requested(voting, voting_id, "u2")
    await voting.publish(
        CreditsReleased(
            user_id="u2",
            reservation_id=timed_out.vote_id,
            voting_id=voting_id,
            amount=1,
            reason="timeout",
        )
    )
    for user in ("u1", "u2"):
        await eventually(state_is(voting, voting_id, user, "rejected"))
    results = await voting.ask(GetResults(voting_id=voting_id, is_admin=True))
    assert results.result is not None and results.result["total"] == 0


async def test_fifty_concurrent_paid_votes_of_one_user_request_once(voting: Voting) -> None:
    voting_id, option = await open_paid_voting(voting)
    replies = await asyncio.gather(
        *(
            voting.ask(CastVote(voting_id=voting_id, user_id="u1", option_id=option))
            for _ in range(50)
        )
    )
    assert sum(1 for r in replies if r.error is None) == 1
    assert all(r.error.code == ErrorCode.ALREADY_VOTED for r in replies if r.error is not None)
    events = await voting.runtime.store.read(f"vote-{voting_id}:u1")
    assert [e.type for e in events] == ["voting.VoteRequested"]
