"""Each service's event handlers and the bindings of its event queue are one list."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts import Envelope, Message
from contracts.gateway import UserRegistered
from contracts.scheduler import VotingOpenTimeReached
from contracts.topology import EVENT_SUBSCRIPTIONS, matches, published_key, routing_keys
from contracts.voting import (
    VoteCast,
    VoteRequested,
    VotingCancelled,
    VotingClosed,
    VotingRescheduled,
    VotingScheduled,
)
from contracts.wallet import CreditsReserved
from eventing.service import ServiceRuntime
from eventing.settings import RuntimeSettings
from services.notifier.service import NotifierService
from services.scheduler.service import SchedulerService
from services.voting.service import VotingService
from services.wallet.service import WalletService

LATER = datetime(2030, 1, 1, tzinfo=UTC)


def test_topic_patterns_match_as_the_broker_matches_them() -> None:
    assert matches("voting.#", "voting.vote_cast.paid")
    assert matches("voting.#", "voting")
    assert matches("voting.vote_cast.*", "voting.vote_cast.free")
    assert not matches("voting.vote_cast.*", "voting.vote_cast")
    assert not matches("voting.vote_cast", "voting.vote_cast.paid")
    assert matches("#.paid", "voting.vote_cast.paid")
    assert not matches("wallet.#", "voting.vote_cast.paid")


def test_an_event_routed_by_a_field_has_a_routing_key_for_each_of_its_values() -> None:
    assert routing_keys(VoteCast) == ["voting.vote_cast.free", "voting.vote_cast.paid"]
    assert routing_keys(VoteRequested) == ["voting.vote_requested"]
    cast = VoteCast(vote_id="v", voting_id="x", user_id="u", option_id="o", kind="free")
    assert Envelope.wrap(cast).routing_key == "voting.vote_cast.free"


def test_free_votes_do_not_reach_the_wallet() -> None:
    assert EVENT_SUBSCRIPTIONS["wallet"]
    assert not any(matches(p, "voting.vote_cast.free") for p in EVENT_SUBSCRIPTIONS["wallet"])


@pytest.mark.parametrize(
    "service", [VotingService, WalletService, NotifierService, SchedulerService]
)
def test_every_service_handles_exactly_what_its_queue_is_bound_to(
    service: type[ServiceRuntime],
) -> None:
    # A service checks its event handlers against its queue's bindings as it registers
    # them, and raises where they differ.
    assert service().name in EVENT_SUBSCRIPTIONS


async def _ignore(_: Message, __: Envelope) -> None:
    return None


def test_an_event_bound_without_a_handler_stops_the_service_from_starting() -> None:
    runtime = ServiceRuntime("notifier", RuntimeSettings())
    # The notifier's queue also takes gateway.preferences_changed.
    with pytest.raises(ValueError, match=r"PreferencesChanged reaches notifier\.events"):
        runtime.serve(events={UserRegistered: _ignore})


def test_a_handler_for_an_event_the_queue_never_gets_stops_the_service_from_starting() -> None:
    runtime = ServiceRuntime("scheduler", RuntimeSettings())
    handled = [VotingScheduled, VotingRescheduled, VotingCancelled, VotingClosed]
    handlers = dict.fromkeys([*handled, VotingOpenTimeReached], _ignore)
    with pytest.raises(ValueError, match="VotingOpenTimeReached has a handler but no binding"):
        runtime.serve(events=handlers)
    ServiceRuntime("scheduler", RuntimeSettings()).serve(events=dict.fromkeys(handled, _ignore))


def test_a_saga_event_is_published_with_its_voters_shard_and_others_as_they_are() -> None:
    def requested(voter: str) -> Envelope:
        return Envelope.wrap(
            VoteRequested(vote_id="v", voting_id="x", user_id=voter, option_id="o", cost=1)
        )

    keys = {published_key(requested(f"voter-{n}"), 3) for n in range(60)}
    assert keys == {"voting.vote_requested.0", "voting.vote_requested.1", "voting.vote_requested.2"}
    # The same shard in every process and every run: CRC-32 of the voter's id.
    assert published_key(requested("voter-1"), 3) == f"voting.vote_requested.{0xCD5D2035 % 3}"
    assert published_key(requested("voter-1"), 1) == "voting.vote_requested.0"
    free = VoteCast(vote_id="v", voting_id="x", user_id="u", option_id="o", kind="free")
    assert published_key(Envelope.wrap(free), 3) == "voting.vote_cast.free"
    paid = free.model_copy(update={"kind": "paid"})
    assert published_key(Envelope.wrap(paid), 3).startswith("voting.vote_cast.paid.")


def test_the_wallets_answer_goes_to_the_shard_its_request_named() -> None:
    answer = CreditsReserved(
        user_id="voter-1", reservation_id="v", voting_id="x", amount=1, expires_at=LATER
    )
    by_voter = published_key(Envelope.wrap(answer), 3)
    named = answer.model_copy(update={"answer_shard": 2})
    assert published_key(Envelope.wrap(named), 3) == "wallet.credits_reserved.2"
    assert published_key(Envelope.wrap(named), 2) == "wallet.credits_reserved.0"
    assert by_voter == f"wallet.credits_reserved.{0xCD5D2035 % 3}"
    # The request itself goes to the wallet by its voter, whatever answer it asks for.
    request = VoteRequested(
        vote_id="v", voting_id="x", user_id="voter-1", option_id="o", cost=1, answer_shard=2
    )
    assert published_key(Envelope.wrap(request), 3) == f"voting.vote_requested.{0xCD5D2035 % 3}"
