"""Signing up and logging in."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from contracts import ErrorCode
from services.gateway.auth import Tokens
from services.gateway.dependencies import CorrelationId, GatewayDep
from services.gateway.errors import responses
from services.gateway.schemas import LoginRequest, SignupRequest, TokenOut, UserOut

router = APIRouter(prefix="/auth", tags=["accounts"])


@router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    responses=responses(ErrorCode.EMAIL_TAKEN, ErrorCode.VALIDATION_ERROR),
)
async def sign_up(body: SignupRequest, gateway: GatewayDep, cid: CorrelationId) -> UserOut:
    """Create an account. E-mail addresses are case-insensitive and belong to one account."""
    user = await gateway.users.sign_up(
        body.email, body.password, body.display_name, correlation_id=cid
    )
    return UserOut(id=user.id, email=user.email, display_name=user.display_name)


@router.post("/login", responses=responses(ErrorCode.UNAUTHENTICATED, ErrorCode.VALIDATION_ERROR))
async def log_in(body: LoginRequest, gateway: GatewayDep, request: Request) -> TokenOut:
    """Exchange e-mail and password for a bearer access token."""
    user = await gateway.users.log_in(body.email, body.password)
    tokens: Tokens = request.app.state.tokens
    return TokenOut(
        access_token=tokens.issue(user.id, user.role),
        expires_in=int(tokens.ttl.total_seconds()),
    )
