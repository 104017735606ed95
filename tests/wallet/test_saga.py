"""The wallet's side of the paid-vote saga on a real broker and store: reserve on
VoteRequested, debit on a paid VoteCast, release on VoteRejected or after the timeout;
every step once, however often its message arrives and however many replicas run."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from contracts import Envelope, ErrorCode
from contracts.topology import EVENT_SUBSCRIPTIONS, event_queue, matches
from contracts.wallet import (
    CreditsDebited,
    CreditsReleased,
    CreditsReservationFailed,
    CreditsReserved,
    GetBalance,
    GetLedger,
    GrantCredits,
)
from services.wallet.domain import Account
from services.wallet.service import WalletService
from tests.support import eventually
from tests.wallet.conftest import START, Wallets
from tests.wallet.votes import cast, rejected, request

RESERVED = "wallet.CreditsReserved"
FAILED = "wallet.CreditsReservationFailed"
DEBITED = "wallet.CreditsDebited"
RELEASED = "wallet.CreditsReleased"
TIMEOUT = timedelta(seconds=30)  # the default reservation timeout


async def fund(wallets: Wallets, user_id: str, credits: int) -> None:
    await wallets.ok(
        GrantCredits(user_id=user_id, amount=credits, reason="test", granted_by="admin")
    )


async def balance(wallets: Wallets, user_id: str) -> tuple[int, int, int]:
    view = await wallets.ok(GetBalance(user_id=user_id))
    return view["balance"], view["reserved"], view["available"]


def no_open_reservations(wallets: Wallets) -> Callable[[], Awaitable[bool]]:
    """Whether the open-reservation rows are gone (dropped a moment after the change)."""

    async def probe() -> bool:
        return await wallets.wallet.read_models.open_count() == 0

    return probe


async def test_a_reservation_is_debited_when_the_vote_is_cast(wallets: Wallets) -> None:
    await fund(wallets, "ada", 2)
    requested = request("ada")
    asked = await wallets.publish(requested)
    await eventually(wallets.until("ada", lambda types: RESERVED in types))
    assert await balance(wallets, "ada") == (2, 1, 1)
    reserved = (await wallets.events("ada"))[-1]
    assert reserved == CreditsReserved(
        user_id="ada",
        reservation_id=requested.vote_id,
        voting_id="voting-1",
        amount=1,
        expires_at=START + TIMEOUT,
    )
    stored = (await wallets.wallet.store.read(Account.stream_name("ada")))[-1]
    assert stored.causation_id == asked.message_id
    assert stored.correlation_id == asked.correlation_id
    assert await wallets.wallet.read_models.open_count() == 1

    await wallets.publish(cast(requested))
    await eventually(wallets.until("ada", lambda types: DEBITED in types))
    assert await balance(wallets, "ada") == (1, 0, 1)
    assert (await wallets.events("ada"))[-1] == CreditsDebited(
        user_id="ada", reservation_id=requested.vote_id, voting_id="voting-1", amount=1
    )
    ledger = await wallets.ok(GetLedger(user_id="ada"))
    assert [(e["kind"], e["amount"], e["reference"]) for e in ledger["entries"]] == [
        ("vote", -1, "voting-1"),
        ("grant", 2, "admin"),
    ]
    await eventually(no_open_reservations(wallets))


async def test_a_rejected_vote_releases_its_reservation(wallets: Wallets) -> None:
    await fund(wallets, "ada", 1)
    requested = request("ada")
    await wallets.publish(requested)
    await eventually(wallets.until("ada", lambda types: RESERVED in types))
    assert await balance(wallets, "ada") == (1, 1, 0)

    await wallets.publish(rejected(requested))
    await eventually(wallets.until("ada", lambda types: RELEASED in types))
    assert (await wallets.events("ada"))[-1] == CreditsReleased(
        user_id="ada",
        reservation_id=requested.vote_id,
        voting_id="voting-1",
        amount=1,
        reason="vote_rejected",
    )
    assert await balance(wallets, "ada") == (1, 0, 1)
    assert (await wallets.ok(GetLedger(user_id="ada")))["entries"][0]["kind"] == "grant"
    await eventually(no_open_reservations(wallets))


async def test_a_rejection_without_a_reservation_changes_nothing(wallets: Wallets) -> None:
    await fund(wallets, "ada", 1)
    rejection = await wallets.publish(rejected(request("ada")))
    await wallets.handled.all(rejection)
    assert await wallets.types("ada") == ["wallet.AccountOpened", "wallet.CreditsGranted"]


async def test_too_few_credits_fail_the_reservation_and_hold_nothing(wallets: Wallets) -> None:
    await fund(wallets, "ada", 1)
    expensive = request("ada", cost=2)
    await wallets.publish(expensive)
    await eventually(wallets.until("ada", lambda types: FAILED in types))
    assert (await wallets.events("ada"))[-1] == CreditsReservationFailed(
        user_id="ada",
        reservation_id=expensive.vote_id,
        voting_id="voting-1",
        reason=ErrorCode.INSUFFICIENT_CREDITS,
    )
    assert await balance(wallets, "ada") == (1, 0, 1)
    await eventually(no_open_reservations(wallets))


async def test_a_user_without_an_account_cannot_reserve(wallets: Wallets) -> None:
    requested = request("stranger")
    await wallets.publish(requested)
    await eventually(wallets.until("stranger", lambda types: FAILED in types))
    failed = (await wallets.events("stranger"))[-1]
    assert isinstance(failed, CreditsReservationFailed)
    assert failed.reason == "INSUFFICIENT_CREDITS"
    assert await balance(wallets, "stranger") == (0, 0, 0)


async def test_one_credit_two_votings_at_once_reserves_once(wallets: Wallets) -> None:
    await wallets.start()  # a second replica: the two requests race on the account
    for round_ in range(3):
        user = f"ada{round_}"
        await fund(wallets, user, 1)
        first, second = request(user, "voting-1"), request(user, "voting-2")
        await asyncio.gather(wallets.publish(first), wallets.publish(second))
        types = await eventually(
            wallets.until(user, lambda types: types.count(RESERVED) + types.count(FAILED) == 2)
        )
        assert types.count(RESERVED) == 1 and types.count(FAILED) == 1
        assert await balance(wallets, user) == (1, 1, 0)


async def test_every_saga_message_twice_reserves_debits_and_releases_once(
    wallets: Wallets,
) -> None:
    await wallets.start()  # copies handled concurrently by two replicas
    await fund(wallets, "ada", 2)
    counted, dropped = request("ada", "voting-1"), request("ada", "voting-2")

    async def twice(envelope: Envelope) -> list[Envelope]:
        # The same message twice (a redelivery) and a copy under a new message id (a
        # relay that published again after a crash).
        copy = envelope.model_copy(update={"message_id": uuid.uuid4().hex})
        return await asyncio.gather(*(wallets.publish(e) for e in (envelope, envelope, copy)))

    await asyncio.gather(twice(Envelope.wrap(counted)), twice(Envelope.wrap(dropped)))
    await eventually(wallets.until("ada", lambda types: types.count(RESERVED) == 2))
    await asyncio.gather(
        twice(Envelope.wrap(cast(counted))), twice(Envelope.wrap(rejected(dropped)))
    )
    await eventually(wallets.until("ada", lambda types: DEBITED in types and RELEASED in types))
    # A late copy of the request, after the reservation was settled.
    late = await twice(Envelope.wrap(counted)) + await twice(Envelope.wrap(dropped))
    await wallets.handled.all(*late)

    types = await wallets.types("ada")
    assert (types.count(RESERVED), types.count(DEBITED), types.count(RELEASED)) == (2, 1, 1)
    assert FAILED not in types
    assert await balance(wallets, "ada") == (1, 0, 1)


async def test_a_free_vote_touches_no_credits(wallets: Wallets) -> None:
    await fund(wallets, "ada", 1)
    free = Envelope.wrap(cast(request("ada"), kind="free"))
    # The wallet's queue is not bound to free votes ...
    assert not any(matches(p, free.routing_key) for p in EVENT_SUBSCRIPTIONS["wallet"])
    # ... and its handler ignores one put straight into the queue.
    await wallets.peer.bus.broker.publish(
        free.model_dump_json(),
        routing_key=wallets.wallet.bus.names(event_queue("wallet")),
        persist=True,
        message_id=free.message_id,
        message_type=free.type,
        content_type="application/json",
    )
    await wallets.handled.all(free)
    assert await wallets.types("ada") == ["wallet.AccountOpened", "wallet.CreditsGranted"]


async def test_a_reservation_that_times_out_is_released_once_by_sweeping_replicas(
    wallets: Wallets,
) -> None:
    await wallets.start(2)  # three replicas sweeping every 50 ms
    await fund(wallets, "ada", 1)
    lapsing = request("ada")
    await wallets.publish(lapsing)
    await eventually(wallets.until("ada", lambda types: RESERVED in types))

    wallets.clock.advance(TIMEOUT - timedelta(seconds=1))
    await wallets.swept()
    assert RELEASED not in await wallets.types("ada")

    wallets.clock.advance(timedelta(seconds=1))
    # Beside the sweepers, every replica sweeps once more at the same moment.
    await asyncio.gather(*(replica.paid_votes.release_expired() for replica in wallets.replicas))
    await eventually(wallets.until("ada", lambda types: RELEASED in types))
    await wallets.swept()
    types = await wallets.types("ada")
    assert types.count(RELEASED) == 1
    released = (await wallets.events("ada"))[-1]
    assert isinstance(released, CreditsReleased) and released.reason == "timeout"
    assert await balance(wallets, "ada") == (1, 0, 1)
    await eventually(no_open_reservations(wallets))

    # The rejection that follows changes nothing.
    await wallets.handled.all(await wallets.publish(rejected(lapsing)))
    assert (await wallets.types("ada")).count(RELEASED) == 1


async def test_a_vote_cast_after_its_reservation_timed_out_is_still_debited_once(
    wallets: Wallets,
) -> None:
    await fund(wallets, "ada", 1)
    late = request("ada", "voting-1")
    await wallets.publish(late)
    await eventually(wallets.until("ada", lambda types: RESERVED in types))
    wallets.clock.advance(TIMEOUT)
    await eventually(wallets.until("ada", lambda types: RELEASED in types))

    # The released credit pays for another vote ...
    other = request("ada", "voting-2")
    await wallets.publish(other)
    await eventually(wallets.until("ada", lambda types: types.count(RESERVED) == 2))
    await wallets.publish(cast(other))
    await eventually(wallets.until("ada", lambda types: DEBITED in types))
    # ... and then the first vote's confirmation arrives, very late, twice.
    envelope = Envelope.wrap(cast(late))
    await asyncio.gather(wallets.publish(envelope), wallets.publish(envelope))
    await eventually(wallets.until("ada", lambda types: types.count(DEBITED) == 2))
    await wallets.handled.all(envelope, envelope)
    assert (await wallets.types("ada")).count(DEBITED) == 2
    # The vote counted, so its credit is spent: the balance shows the debt.
    assert await balance(wallets, "ada") == (-1, 0, 0)
    failed = request("ada", "voting-3")
    await wallets.publish(failed)
    await eventually(wallets.until("ada", lambda types: FAILED in types))


async def test_open_reservations_are_rebuilt_from_the_store(wallets: Wallets) -> None:
    await fund(wallets, "ada", 3)
    held, debited, released = request("ada", "v1"), request("ada", "v2"), request("ada", "v3")
    for requested in (held, debited, released):
        await wallets.publish(requested)
    await eventually(wallets.until("ada", lambda types: types.count(RESERVED) == 3))
    await wallets.publish(cast(debited))
    await wallets.publish(rejected(released))
    await eventually(wallets.until("ada", lambda types: DEBITED in types and RELEASED in types))

    wallet: WalletService = wallets.wallet
    await wallet.db["open_reservations"].delete_many({})
    assert await wallet.rebuild_projections() > 0
    rows = await wallet.read_models.expired(START + TIMEOUT, 10)
    assert [row.reservation_id for row in rows] == [held.vote_id]
    # And the sweeper acts on the rebuilt row.
    wallets.clock.advance(TIMEOUT)
    await eventually(wallets.until("ada", lambda types: types.count(RELEASED) == 2))
