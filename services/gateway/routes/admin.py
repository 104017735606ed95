"""Operator actions (admin role only)."""

from __future__ import annotations

import csv
import io

from fastapi import APIRouter, Response, status

from contracts import ErrorCode
from contracts.voting import (
    CancelVoting,
    CloseVoting,
    GetResults,
    RescheduleVoting,
    ScheduleVoting,
)
from services.gateway.auth import Admin
from services.gateway.dependencies import GatewayDep
from services.gateway.errors import responses
from services.gateway.schemas import (
    RescheduleVotingRequest,
    ResultsOut,
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
    body: ScheduleVotingRequest, admin: Admin, gateway: GatewayDep
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
    )


@router.post(
    "/votings/{voting_id}/cancel",
    responses=responses(
        *_ADMIN, ErrorCode.NOT_FOUND, ErrorCode.VOTING_ALREADY_OPEN, ErrorCode.VOTING_CLOSED
    ),
)
async def cancel_voting(voting_id: str, admin: Admin, gateway: GatewayDep) -> VotingTile:
    """Cancel a voting; only before it opens."""
    return await gateway.ask_for(
        VotingTile, "voting", CancelVoting(voting_id=voting_id, requested_by=admin.user_id)
    )


@router.post(
    "/votings/{voting_id}/close",
    responses=responses(
        *_ADMIN, ErrorCode.NOT_FOUND, ErrorCode.VOTING_NOT_OPEN, ErrorCode.VOTING_CLOSED
    ),
)
async def close_voting(voting_id: str, admin: Admin, gateway: GatewayDep) -> VotingTile:
    """Close an open voting now, before its closing time."""
    return await gateway.ask_for(
        VotingTile, "voting", CloseVoting(voting_id=voting_id, requested_by=admin.user_id)
    )


@router.get(
    "/votings/{voting_id}/results.csv",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}}, "description": "option, label, votes"},
        **responses(*_ADMIN, ErrorCode.NOT_FOUND),
    },
)
async def export_results(voting_id: str, admin: Admin, gateway: GatewayDep) -> Response:
    """The voting's counts as CSV (``option_id,label,votes``), open or closed."""
    results = await gateway.ask_for(
        ResultsOut, "voting", GetResults(voting_id=voting_id, is_admin=True)
    )
    return Response(
        results_csv(results),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="results-{voting_id}.csv"'},
    )


def results_csv(results: ResultsOut) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["option_id", "label", "votes"])
    for option in results.options:
        # A label starting with =, +, - or @ would be run as a formula by a spreadsheet.
        label = f"'{option.label}" if option.label[:1] in ("=", "+", "-", "@") else option.label
        writer.writerow([option.id, label, option.votes])
    return out.getvalue()
