"""The caller's inbox, and updates the operator sends to every consenting user.

Kept by the notifier; a notification also arrives live over the WebSocket as
``{"type": "notification", "notification": <inbox item>}`` while the user is online,
and as a push on their devices while they are not.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel

from contracts import ErrorCode
from contracts.notifier import (
    CountUpdateAudience,
    Delivery,
    GetUpdate,
    Inbox,
    ListNotifications,
    MarkAllNotificationsRead,
    MarkNotificationRead,
    Notification,
    PublishUpdate,
    UpdateAudience,
    UpdateBody,
    UpdateTitle,
)
from services.gateway.auth import Admin, CurrentUser
from services.gateway.dependencies import GatewayDep, IdempotencyKey
from services.gateway.errors import responses
from services.gateway.schemas import RequestBody

router = APIRouter(tags=["notifications"])

_USER = (ErrorCode.UNAUTHENTICATED, ErrorCode.SERVICE_UNAVAILABLE)
_ADMIN = (ErrorCode.UNAUTHENTICATED, ErrorCode.FORBIDDEN, ErrorCode.SERVICE_UNAVAILABLE)


class MarkedRead(BaseModel):
    marked: int


class UpdateRequest(RequestBody):
    title: UpdateTitle
    body: UpdateBody
    voting_id: str | None = None


class UpdateAccepted(BaseModel):
    id: str
    audience: int


@router.get("/me/notifications", responses=responses(*_USER, ErrorCode.VALIDATION_ERROR))
async def inbox(
    principal: CurrentUser,
    gateway: GatewayDep,
    cursor: Annotated[str | None, Query(max_length=500, description="a next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Inbox:
    """The caller's notifications, newest first, a page at a time, with the unread count."""
    return await gateway.ask_for(
        Inbox,
        "notifier",
        ListNotifications(user_id=principal.user_id, cursor=cursor, limit=limit),
    )


@router.post("/me/notifications/read-all", responses=responses(*_USER, ErrorCode.VALIDATION_ERROR))
async def mark_all_read(principal: CurrentUser, gateway: GatewayDep) -> MarkedRead:
    """Mark every notification read; how many were unread."""
    return await gateway.ask_for(
        MarkedRead, "notifier", MarkAllNotificationsRead(user_id=principal.user_id)
    )


@router.post(
    "/me/notifications/{notification_id}/read",
    responses=responses(*_USER, ErrorCode.NOT_FOUND),
)
async def mark_read(
    notification_id: str, principal: CurrentUser, gateway: GatewayDep
) -> Notification:
    """Mark one notification read (again: no change)."""
    return await gateway.ask_for(
        Notification,
        "notifier",
        MarkNotificationRead(user_id=principal.user_id, notification_id=notification_id),
    )


@router.post(
    "/admin/updates",
    status_code=status.HTTP_202_ACCEPTED,
    responses=responses(*_ADMIN, ErrorCode.VALIDATION_ERROR),
)
async def publish_update(
    body: UpdateRequest,
    admin: Admin,
    gateway: GatewayDep,
    idempotency_key: IdempotencyKey = None,
) -> UpdateAccepted:
    """Send an update to every user whose ``updates`` preference is on now; ``audience``
    is how many they are. Delivery follows: see ``GET /admin/updates/{id}``."""
    return await gateway.ask_for(
        UpdateAccepted,
        "notifier",
        PublishUpdate(
            title=body.title, body=body.body, voting_id=body.voting_id, published_by=admin.user_id
        ),
        message_id=await gateway.idempotency.message_id(
            idempotency_key, body, "update", admin.user_id
        ),
    )


@router.get("/admin/updates/audience", responses=responses(*_ADMIN))
async def update_audience(_: Admin, gateway: GatewayDep) -> UpdateAudience:
    """How many users an update sent now would reach (their ``updates`` preference is on)."""
    return await gateway.ask_for(UpdateAudience, "notifier", CountUpdateAudience())


@router.get("/admin/updates/{update_id}", responses=responses(*_ADMIN, ErrorCode.NOT_FOUND))
async def update_progress(update_id: str, admin: Admin, gateway: GatewayDep) -> Delivery:
    """How far an update has got: audience, in the inbox, in the app, pushed, failed,
    dead devices removed."""
    return await gateway.ask_for(Delivery, "notifier", GetUpdate(update_id=update_id))
