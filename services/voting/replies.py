"""What the voting service answers: refusals, a vote's outcome, a tile."""

from __future__ import annotations

from datetime import datetime

from contracts import ErrorCode, Reply
from services.voting.domain import Rejected, Vote
from services.voting.store import VotingReadModels


def rejection(rejected: Rejected) -> Reply:
    return Reply.fail(rejected.code, rejected.message, **rejected.details)


def not_found(voting_id: str) -> Reply:
    return Reply.fail(ErrorCode.NOT_FOUND, "no such voting", voting_id=voting_id)


def outcome(vote: Vote) -> Reply:
    """The voter's answer: the vote, or why it was not counted."""
    if vote.state == "rejected":
        if vote.reason == ErrorCode.INSUFFICIENT_CREDITS:
            return Reply.fail(
                ErrorCode.INSUFFICIENT_CREDITS,
                "you need a credit to vote in this voting; nothing was debited",
                vote_id=vote.vote_id,
                cost=1,
            )
        return Reply.fail(
            ErrorCode.SERVICE_UNAVAILABLE,
            "your vote could not be confirmed in time and was not counted; try again",
            vote_id=vote.vote_id,
            reason=vote.reason,
        )
    return Reply.ok(vote.view())


async def tile(read_models: VotingReadModels, voting_id: str, user_id: str, now: datetime) -> Reply:
    """The voting as ``user_id``'s tile."""
    found = await read_models.tile(voting_id, user_id, now)
    return Reply.ok(found) if found is not None else not_found(voting_id)
