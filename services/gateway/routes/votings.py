"""Votings as tiles, registration, votes and results: relayed to the voting service."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response, status

from contracts import ErrorCode
from contracts.voting import (
    CastVote,
    GetMyVote,
    GetResults,
    GetVoting,
    ListVotings,
    RegisterVoter,
    VotingStatus,
)
from services.gateway.auth import CurrentUser
from services.gateway.dependencies import GatewayDep, IdempotencyKey
from services.gateway.errors import responses
from services.gateway.schemas import CastVoteRequest, ResultsOut, VoteOut, VotingTile

router = APIRouter(prefix="/votings", tags=["votings"])


@router.get(
    "",
    responses=responses(
        ErrorCode.UNAUTHENTICATED, ErrorCode.VALIDATION_ERROR, ErrorCode.SERVICE_UNAVAILABLE
    ),
)
async def list_votings(
    principal: CurrentUser,
    gateway: GatewayDep,
    status: Annotated[VotingStatus | None, Query(description="only votings in this status")] = None,
) -> list[VotingTile]:
    """Every voting as a tile, by opening time; paid ones are left out when the user
    hides them (preference ``show_paid``)."""
    user = await gateway.users.get(principal.user_id)
    show_paid = user is None or user.preferences.show_paid
    tiles = await gateway.ask(
        "voting",
        ListVotings(user_id=principal.user_id, status=status, include_paid=show_paid),
    )
    return [VotingTile.model_validate(tile) for tile in tiles]


@router.get(
    "/{voting_id}",
    responses=responses(
        ErrorCode.UNAUTHENTICATED, ErrorCode.NOT_FOUND, ErrorCode.SERVICE_UNAVAILABLE
    ),
)
async def get_voting(voting_id: str, principal: CurrentUser, gateway: GatewayDep) -> VotingTile:
    """One voting as a tile (also a paid one the user hides: asked for by id, it is shown)."""
    return await gateway.ask_for(
        VotingTile, "voting", GetVoting(voting_id=voting_id, user_id=principal.user_id)
    )


@router.post(
    "/{voting_id}/registration",
    responses=responses(
        ErrorCode.UNAUTHENTICATED,
        ErrorCode.NOT_FOUND,
        ErrorCode.VOTING_CLOSED,
        ErrorCode.SERVICE_UNAVAILABLE,
    ),
)
async def register(voting_id: str, principal: CurrentUser, gateway: GatewayDep) -> VotingTile:
    """Take part in a voting (an RSVP). Registering again changes nothing."""
    return await gateway.ask_for(
        VotingTile, "voting", RegisterVoter(voting_id=voting_id, user_id=principal.user_id)
    )


@router.post(
    "/{voting_id}/votes",
    status_code=status.HTTP_201_CREATED,
    response_model_exclude_none=True,
    responses={
        202: {
            "model": VoteOut,
            "description": "accepted while a paid vote's credit is being taken; follow it "
            "at the Location (GET .../votes/me) or on the WebSocket",
            "headers": {
                "Location": {
                    "description": "where the vote's outcome can be read",
                    "schema": {"type": "string"},
                }
            },
        },
        **responses(
            ErrorCode.UNAUTHENTICATED,
            ErrorCode.VALIDATION_ERROR,
            ErrorCode.NOT_FOUND,
            ErrorCode.VOTING_NOT_OPEN,
            ErrorCode.VOTING_CLOSED,
            ErrorCode.ALREADY_VOTED,
            ErrorCode.UNKNOWN_OPTION,
            ErrorCode.INSUFFICIENT_CREDITS,
            ErrorCode.RATE_LIMITED,
            ErrorCode.SERVICE_UNAVAILABLE,
        ),
    },
)
async def cast_vote(
    voting_id: str,
    body: CastVoteRequest,
    principal: CurrentUser,
    gateway: GatewayDep,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> VoteOut:
    """Vote once in an open voting: 201 when counted, 202 while a paid vote is pending.

    Send an ``Idempotency-Key`` to retry safely: a retry with the same key (after a
    timeout, say) is answered with the same vote instead of ALREADY_VOTED.
    """
    gateway.rates.check("vote", principal.user_id)
    vote = await gateway.ask_for(
        VoteOut,
        "voting",
        CastVote(voting_id=voting_id, user_id=principal.user_id, option_id=body.option_id),
        # Scoped to the voting too: one key reused on two votings makes two votes.
        message_id=await gateway.idempotency.message_id(
            idempotency_key, body, "vote", principal.user_id, voting_id
        ),
        timeout=gateway.settings.cast_vote_timeout_seconds,
        # Votes sent at the same moment go to the voting service as one message, each
        # answered as soon as it is decided (a free vote does not wait for a paid one).
        batch="votes",
    )
    if vote.status == "pending":
        response.status_code = status.HTTP_202_ACCEPTED
        response.headers["Location"] = request.app.url_path_for(
            "my_vote", voting_id=quote(voting_id, safe="")
        )
    return vote


@router.get(
    "/{voting_id}/votes/me",
    response_model_exclude_none=True,
    responses=responses(
        ErrorCode.UNAUTHENTICATED, ErrorCode.NOT_FOUND, ErrorCode.SERVICE_UNAVAILABLE
    ),
)
async def my_vote(voting_id: str, principal: CurrentUser, gateway: GatewayDep) -> VoteOut:
    """The caller's vote in a voting: confirmed, pending or rejected; 404 when none."""
    return await gateway.ask_for(
        VoteOut, "voting", GetMyVote(voting_id=voting_id, user_id=principal.user_id)
    )


@router.get(
    "/{voting_id}/results",
    responses=responses(
        ErrorCode.UNAUTHENTICATED,
        ErrorCode.FORBIDDEN,
        ErrorCode.NOT_FOUND,
        ErrorCode.SERVICE_UNAVAILABLE,
    ),
)
async def results(voting_id: str, principal: CurrentUser, gateway: GatewayDep) -> ResultsOut:
    """Votes counted per option: for administrators at any time, for everyone once the
    voting has closed (403 before)."""
    return await gateway.ask_for(
        ResultsOut, "voting", GetResults(voting_id=voting_id, is_admin=principal.is_admin)
    )
