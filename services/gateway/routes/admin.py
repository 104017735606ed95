"""Operator actions (admin role only)."""

from __future__ import annotations

from fastapi import APIRouter, status

from contracts import ErrorCode
from contracts.voting import ScheduleVoting
from services.gateway.auth import Admin
from services.gateway.dependencies import CorrelationId, GatewayDep
from services.gateway.errors import responses
from services.gateway.schemas import ScheduleVotingRequest, VotingTile

router = APIRouter(prefix="/admin", tags=["admin"])


@router.post(
    "/votings",
    status_code=status.HTTP_201_CREATED,
    responses=responses(
        ErrorCode.UNAUTHENTICATED,
        ErrorCode.FORBIDDEN,
        ErrorCode.VALIDATION_ERROR,
        ErrorCode.TOO_MANY_CONCURRENT_VOTINGS,
        ErrorCode.SERVICE_UNAVAILABLE,
    ),
)
async def schedule_voting(
    body: ScheduleVotingRequest, admin: Admin, gateway: GatewayDep, cid: CorrelationId
) -> VotingTile:
    """Schedule a voting; times are ISO 8601 with a UTC offset."""
    tile = await gateway.ask(
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
    return VotingTile.model_validate(tile)
