"""Votings as tiles, and casting votes: relayed to the voting service."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response, status

from contracts import ErrorCode
from contracts.voting import CastVote, GetVoting, ListVotings
from services.gateway.auth import CurrentUser
from services.gateway.dependencies import CorrelationId, GatewayDep
from services.gateway.errors import responses
from services.gateway.schemas import CastVoteRequest, VoteOut, VotingTile

router = APIRouter(prefix="/votings", tags=["votings"])


@router.get("", responses=responses(ErrorCode.UNAUTHENTICATED, ErrorCode.SERVICE_UNAVAILABLE))
async def list_votings(
    principal: CurrentUser, gateway: GatewayDep, cid: CorrelationId
) -> list[VotingTile]:
    """Every voting as a tile; paid ones are left out when the user hides them."""
    tiles, user = await asyncio.gather(
        gateway.ask("voting", ListVotings(user_id=principal.user_id), cid),
        gateway.users.get(principal.user_id),
    )
    show_paid = user is None or user.preferences.show_paid
    listed = [VotingTile.model_validate(tile) for tile in tiles]
    return [tile for tile in listed if show_paid or tile.kind != "paid"]


@router.get(
    "/{voting_id}",
    responses=responses(
        ErrorCode.UNAUTHENTICATED, ErrorCode.NOT_FOUND, ErrorCode.SERVICE_UNAVAILABLE
    ),
)
async def get_voting(
    voting_id: str, principal: CurrentUser, gateway: GatewayDep, cid: CorrelationId
) -> VotingTile:
    tile = await gateway.ask(
        "voting", GetVoting(voting_id=voting_id, user_id=principal.user_id), cid
    )
    return VotingTile.model_validate(tile)


@router.post(
    "/{voting_id}/votes",
    status_code=status.HTTP_201_CREATED,
    responses={
        202: {"model": VoteOut, "description": "accepted; confirmed once the credit is taken"},
        **responses(
            ErrorCode.UNAUTHENTICATED,
            ErrorCode.VALIDATION_ERROR,
            ErrorCode.NOT_FOUND,
            ErrorCode.VOTING_NOT_OPEN,
            ErrorCode.VOTING_CLOSED,
            ErrorCode.ALREADY_VOTED,
            ErrorCode.UNKNOWN_OPTION,
            ErrorCode.INSUFFICIENT_CREDITS,
            ErrorCode.SERVICE_UNAVAILABLE,
        ),
    },
)
async def cast_vote(
    voting_id: str,
    body: CastVoteRequest,
    principal: CurrentUser,
    gateway: GatewayDep,
    cid: CorrelationId,
    response: Response,
) -> VoteOut:
    """Vote once in an open voting: 201 when counted, 202 while a paid vote is pending."""
    result = await gateway.ask(
        "voting",
        CastVote(voting_id=voting_id, user_id=principal.user_id, option_id=body.option_id),
        cid,
    )
    vote = VoteOut.model_validate(result)
    if vote.status == "pending":
        response.status_code = status.HTTP_202_ACCEPTED
    return vote
