"""The caller's own profile and preferences."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from contracts import ErrorCode
from contracts.wallet import GetBalance
from services.gateway.auth import CurrentUser
from services.gateway.dependencies import CorrelationId, Gateway, GatewayDep
from services.gateway.domain import User
from services.gateway.errors import ApiError, responses
from services.gateway.schemas import PreferencesOut, PreferencesPatch, ProfileOut

router = APIRouter(prefix="/me", tags=["profile"])


async def _user(gateway: Gateway, user_id: str) -> User:
    user = await gateway.users.get(user_id)
    if user is None:
        raise ApiError(ErrorCode.NOT_FOUND, "the account of this access token does not exist")
    return user


@router.get(
    "",
    responses=responses(
        ErrorCode.UNAUTHENTICATED, ErrorCode.NOT_FOUND, ErrorCode.SERVICE_UNAVAILABLE
    ),
)
async def profile(principal: CurrentUser, gateway: GatewayDep, cid: CorrelationId) -> ProfileOut:
    """The caller's profile, with the credit balance their wallet holds."""
    user = await _user(gateway, principal.user_id)
    try:
        balance = await gateway.ask("wallet", GetBalance(user_id=user.id), cid)
        credits = int(balance["balance"])
    except ApiError as error:
        if error.code != ErrorCode.NOT_FOUND:
            raise
        # The wallet opens an account when it hears of the registration; until then
        # there is nothing in it.
        credits = 0
    return ProfileOut(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=user.role,
        credits=credits,
        preferences=PreferencesOut(**asdict(user.preferences)),
    )


@router.patch(
    "/preferences",
    responses=responses(ErrorCode.UNAUTHENTICATED, ErrorCode.VALIDATION_ERROR),
)
async def change_preferences(
    body: PreferencesPatch, principal: CurrentUser, gateway: GatewayDep, cid: CorrelationId
) -> PreferencesOut:
    """Switch any of the preferences on or off; the ones not sent stay as they are."""
    preferences = await gateway.users.change_preferences(
        principal.user_id,
        reminders=body.reminders,
        updates=body.updates,
        show_paid=body.show_paid,
        correlation_id=cid,
    )
    return PreferencesOut(**asdict(preferences))
