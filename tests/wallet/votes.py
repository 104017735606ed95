"""The voting service's saga messages, as the wallet receives them."""

from __future__ import annotations

import uuid

from contracts.voting import VoteCast, VoteRejected, VoteRequested, VotingKind


def request(user_id: str, voting_id: str = "voting-1", cost: int = 1) -> VoteRequested:
    return VoteRequested(
        vote_id=uuid.uuid4().hex, voting_id=voting_id, user_id=user_id, option_id="o1", cost=cost
    )


def cast(requested: VoteRequested, kind: VotingKind = "paid") -> VoteCast:
    return VoteCast(
        vote_id=requested.vote_id,
        voting_id=requested.voting_id,
        user_id=requested.user_id,
        option_id=requested.option_id,
        kind=kind,
    )


def rejected(requested: VoteRequested) -> VoteRejected:
    return VoteRejected(
        vote_id=requested.vote_id,
        voting_id=requested.voting_id,
        user_id=requested.user_id,
        reason="VOTING_CLOSED",
    )
