"""Operator actions (admin role only)."""

from __future__ import annotations

from fastapi import APIRouter, status

from contracts import ErrorCode
from contracts.voting import CancelVoting, CloseVoting, RescheduleVoting, ScheduleVoting
from contracts.wallet import GrantCredits
from services.gateway.auth import Admin
from services.gateway.dependencies import CorrelationId, GatewayDep, IdempotencyKey, command_id
from services.gateway.errors import ApiError, responses
from services.gateway.schemas import (
    BalanceOut,
    GrantCreditsRequest,
    RescheduleVotingRequest,
    ScheduleVotingRequest,
    VotingTile,
)

router = APIRouter(prefix="/admin", tags=["admin"])

# Every admin route answers these besides its own.
_ADMIN = (ErrorCode.UNAUTHENTICATED, ErrorCode.FORBIDDEN, ErrorCode.SERVICE_UNAVAILABLE)


@router.post(
    "/votings",
    status_code=status.HTTP_201_CREATED,
    responses=responses(*_ADMIN, ErrorCode.VALIDATION_ERROR, ErrorCode.TOO_MANY_CONCURRENT_VOTINGS),
)
async def schedule_voting(
    body: ScheduleVotingRequest, admin: Admin, gateway: GatewayDep, cid: CorrelationId
) -> VotingTile:
    """Schedule a voting; times are ISO 8601 with a UTC offset."""
    return await gateway.ask_for(
        VotingTile,
        "voting",
        ScheduleVoting(
            title=body.title,
            description=body.description,
            options=body.options,
            kind=body.kind,
            opens_at=body.opens_at,
            closes_at=body.closes_at,
            scheduled_by=admin.user_id,
        ),
        cid,
    )


@router.patch(
    "/votings/{voting_id}",
    responses=responses(
        *_ADMIN,
        ErrorCode.VALIDATION_ERROR,
        ErrorCode.NOT_FOUND,
        ErrorCode.VOTING_ALREADY_OPEN,
        ErrorCode.VOTING_CLOSED,
        ErrorCode.TOO_MANY_CONCURRENT_VOTINGS,
    ),
)
async def reschedule_voting(
    voting_id: str,
    body: RescheduleVotingRequest,
    admin: Admin,
    gateway: GatewayDep,
    cid: CorrelationId,
) -> VotingTile:
    """Move a voting's window (both times); only before it opens."""
    return await gateway.ask_for(
        VotingTile,
        "voting",
        RescheduleVoting(
            voting_id=voting_id,
            opens_at=body.opens_at,
            closes_at=body.closes_at,
            requested_by=admin.user_id,
        ),
        cid,
    )


@router.post(
    "/votings/{voting_id}/cancel",
    responses=responses(
        *_ADMIN, ErrorCode.NOT_FOUND, ErrorCode.VOTING_ALREADY_OPEN, ErrorCode.VOTING_CLOSED
    ),
)
async def cancel_voting(
    voting_id: str, admin: Admin, gateway: GatewayDep, cid: CorrelationId
) -> VotingTile:
    """Cancel a voting; only before it opens."""
    return await gateway.ask_for(
        VotingTile, "voting", CancelVoting(voting_id=voting_id, requested_by=admin.user_id), cid
    )


@router.post(
    "/votings/{voting_id}/close",
    responses=responses(
        *_ADMIN, ErrorCode.NOT_FOUND, ErrorCode.VOTING_NOT_OPEN, ErrorCode.VOTING_CLOSED
    ),
)
async def close_voting(
    voting_id: str, admin: Admin, gateway: GatewayDep, cid: CorrelationId
) -> VotingTile:
    """Close an open voting now, before its closing time."""
    return await gateway.ask_for(
        VotingTile, "voting", CloseVoting(voting_id=voting_id, requested_by=admin.user_id), cid
    )


@router.post(
    "/users/{user_id}/credits",
    status_code=status.HTTP_201_CREATED,
    responses=responses(*_ADMIN, ErrorCode.VALIDATION_ERROR, ErrorCode.NOT_FOUND),
)
async def grant_credits(
    user_id: str,
    body: GrantCreditsRequest,
    admin: Admin,
    gateway: GatewayDep,
    cid: CorrelationId,
    idempotency_key: IdempotencyKey = None,
) -> BalanceOut:
    """Give a user credits (support, goodwill, tests); recorded in their ledger with the
    reason. Answers the user's new balance. A retry with the same ``Idempotency-Key``
    grants nothing more."""
    # The wallet keeps an account for any id it is given; only the gateway knows who
    # really is a user.
    if await gateway.users.get(user_id) is None:
        raise ApiError(ErrorCode.NOT_FOUND, "no such user", {"user_id": user_id})
    return await gateway.ask_for(
        BalanceOut,
        "wallet",
        GrantCredits(
            user_id=user_id, amount=body.amount, reason=body.reason, granted_by=admin.user_id
        ),
        cid,
        message_id=command_id(idempotency_key, "grant", admin.user_id, user_id),
    )
