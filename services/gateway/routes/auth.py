"""Signing up and logging in."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from contracts import ErrorCode
from eventing.logs import current_correlation_id
from services.gateway.auth import Tokens
from services.gateway.dependencies import CallerAddress, GatewayDep
from services.gateway.domain import normalise_email
from services.gateway.errors import ApiError, responses
from services.gateway.schemas import LoginRequest, SignupRequest, TokenOut, UserOut

router = APIRouter(prefix="/auth", tags=["accounts"])


@router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    responses=responses(ErrorCode.EMAIL_TAKEN, ErrorCode.VALIDATION_ERROR, ErrorCode.RATE_LIMITED),
)
async def sign_up(body: SignupRequest, gateway: GatewayDep, caller: CallerAddress) -> UserOut:
    """Create an account. E-mail addresses are case-insensitive and belong to one account."""
    gateway.rates.check("signup", caller)
    user = await gateway.users.sign_up(
        body.email,
        body.password,
        body.display_name,
        correlation_id=current_correlation_id(),
        caller=caller,
    )
    return UserOut(id=user.id, email=user.email, display_name=user.display_name)


@router.post(
    "/login",
    responses=responses(
        ErrorCode.UNAUTHENTICATED, ErrorCode.VALIDATION_ERROR, ErrorCode.RATE_LIMITED
    ),
)
async def log_in(
    body: LoginRequest, gateway: GatewayDep, request: Request, caller: CallerAddress
) -> TokenOut:
    """Exchange e-mail and password for a bearer access token. After too many wrong
    passwords for an account, its logins are refused for a while (429, ``Retry-After``)."""
    gateway.rates.check("login", caller)
    account = normalise_email(body.email)
    await gateway.login_failures.check(account)
    try:
        user = await gateway.users.log_in(body.email, body.password, caller)
    except ApiError as error:
        if error.code == ErrorCode.UNAUTHENTICATED:
            await gateway.login_failures.record(account)
        raise
    tokens: Tokens = request.app.state.tokens
    return TokenOut(
        access_token=tokens.issue(user.id, user.role),
        expires_in=int(tokens.ttl.total_seconds()),
    )
