"""The vote aggregate alone: pure, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts.voting import VoteRequested
from services.voting.domain import Vote

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def test_a_vote_copy_and_its_original_change_apart() -> None:
    original = Vote(Vote.key("voting-1", "ada"))
    original.trigger(
        VoteRequested(vote_id="v1", voting_id="voting-1", user_id="ada", option_id="o1", cost=1)
    )
    original.causes.add("m1")

    twin = original.copy()
    twin.credit_reserved("v1", NOW + timedelta(minutes=5), NOW, timedelta(seconds=5))
    twin.causes.add("m2")

    assert (original.state, twin.state) == ("pending", "confirmed")
    assert original.causes == {"m1"}
    assert (len(original.pending), len(twin.pending)) == (1, 2)
    assert vars(twin).keys() == vars(original).keys()
    # What the two share cannot change: an attribute added later that can must be copied.
    shared = {n: v for n, v in vars(original).items() if v is vars(original.copy())[n]}
    assert all(isinstance(v, str | int | None) for v in shared.values()), shared
