"""The operator's view of users: find one by e-mail, see their credits, grant some."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel

from contracts import ErrorCode
from contracts.gateway import Role
from contracts.wallet import GetBalance, GetLedger, GrantCredits
from services.gateway.auth import Admin
from services.gateway.dependencies import (
    Gateway,
    GatewayDep,
    IdempotencyKey,
)
from services.gateway.domain import User
from services.gateway.errors import ApiError, responses
from services.gateway.schemas import BalanceOut, GrantCreditsRequest, LedgerEntryOut, LedgerOut

router = APIRouter(prefix="/admin/users", tags=["admin"])

_ADMIN = (ErrorCode.UNAUTHENTICATED, ErrorCode.FORBIDDEN, ErrorCode.SERVICE_UNAVAILABLE)


class UserSummary(BaseModel):
    id: str
    email: str
    display_name: str
    role: Role


class UserList(BaseModel):
    items: list[UserSummary]


class UserAccount(UserSummary):
    credits: int
    credits_reserved: int
    ledger: list[LedgerEntryOut]


@router.get("", responses=responses(*_ADMIN, ErrorCode.VALIDATION_ERROR))
async def find_users(
    _: Admin,
    gateway: GatewayDep,
    email: Annotated[str, Query(min_length=1, max_length=320, description="the exact address")],
) -> UserList:
    """The user with this e-mail address (matched as at login: case and spaces aside)."""
    user = await gateway.users.find_by_email(email)
    return UserList(items=[] if user is None else [_summary(user)])


@router.get("/{user_id}", responses=responses(*_ADMIN, ErrorCode.NOT_FOUND))
async def user_account(user_id: str, _: Admin, gateway: GatewayDep) -> UserAccount:
    """A user with their credits and their ledger, newest first."""
    user = await _existing(gateway, user_id)
    balance, ledger = await asyncio.gather(
        gateway.ask_for(BalanceOut, "wallet", GetBalance(user_id=user.id)),
        gateway.ask_for(LedgerOut, "wallet", GetLedger(user_id=user.id)),
    )
    return UserAccount(
        **_summary(user).model_dump(),
        credits=balance.available,
        credits_reserved=balance.reserved,
        ledger=ledger.entries,
    )


@router.post(
    "/{user_id}/credits",
    status_code=status.HTTP_201_CREATED,
    responses=responses(*_ADMIN, ErrorCode.VALIDATION_ERROR, ErrorCode.NOT_FOUND),
)
async def grant_credits(
    user_id: str,
    body: GrantCreditsRequest,
    admin: Admin,
    gateway: GatewayDep,
    idempotency_key: IdempotencyKey = None,
) -> BalanceOut:
    """Give a user credits (support, goodwill, tests); recorded in their ledger with the
    reason. Answers the user's new balance. A retry with the same ``Idempotency-Key``
    grants nothing more."""
    # The wallet keeps an account for any id it is given; only the gateway knows who
    # really is a user.
    await _existing(gateway, user_id)
    return await gateway.ask_for(
        BalanceOut,
        "wallet",
        GrantCredits(
            user_id=user_id, amount=body.amount, reason=body.reason, granted_by=admin.user_id
        ),
        message_id=await gateway.idempotency.message_id(
            idempotency_key, body, "grant", admin.user_id, user_id
        ),
    )


async def _existing(gateway: Gateway, user_id: str) -> User:
    user = await gateway.users.get(user_id)
    if user is None:
        raise ApiError(ErrorCode.NOT_FOUND, "no such user", {"user_id": user_id})
    return user


def _summary(user: User) -> UserSummary:
    return UserSummary(id=user.id, email=user.email, display_name=user.display_name, role=user.role)
