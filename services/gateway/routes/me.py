"""The caller's own profile, preferences and credits."""

from __future__ import annotations

import asyncio
import re
from dataclasses import asdict

from fastapi import APIRouter, Request, Response, status

from contracts import ErrorCode
from contracts.wallet import (
    RECEIPT_NUMBER,
    CreateCheckout,
    GetBalance,
    GetLedger,
    GetReceipt,
    Receipt,
)
from eventing.logs import current_correlation_id
from services.gateway.auth import CurrentUser
from services.gateway.dependencies import (
    Gateway,
    GatewayDep,
    IdempotencyKey,
)
from services.gateway.domain import User
from services.gateway.errors import ApiError, responses
from services.gateway.receipts import receipt_pdf
from services.gateway.schemas import (
    BalanceOut,
    CheckoutOut,
    CheckoutRequest,
    LedgerOut,
    PreferencesOut,
    PreferencesPatch,
    ProfileOut,
)

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
async def profile(principal: CurrentUser, gateway: GatewayDep) -> ProfileOut:
    """The caller's profile, with the credits their wallet holds: ``credits`` can be spent
    now, ``credits_reserved`` are held for paid votes still being confirmed."""
    user = await _user(gateway, principal.user_id)
    balance = await gateway.ask_for(BalanceOut, "wallet", GetBalance(user_id=user.id))
    return ProfileOut(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=user.role,
        credits=balance.available,
        credits_reserved=balance.reserved,
        preferences=PreferencesOut(**asdict(user.preferences)),
    )


@router.patch(
    "/preferences",
    responses=responses(ErrorCode.UNAUTHENTICATED, ErrorCode.VALIDATION_ERROR),
)
async def change_preferences(
    body: PreferencesPatch, principal: CurrentUser, gateway: GatewayDep
) -> PreferencesOut:
    """Switch any of the preferences on or off; the ones not sent stay as they are."""
    preferences = await gateway.users.change_preferences(
        principal.user_id,
        reminders=body.reminders,
        updates=body.updates,
        show_paid=body.show_paid,
        correlation_id=current_correlation_id(),
    )
    return PreferencesOut(**asdict(preferences))


@router.get(
    "/credits/ledger",
    responses=responses(ErrorCode.UNAUTHENTICATED, ErrorCode.SERVICE_UNAVAILABLE),
)
async def ledger(request: Request, principal: CurrentUser, gateway: GatewayDep) -> LedgerOut:
    """Every change of the caller's credits, newest first, with its reason; a purchase or
    a refund links to its receipt (``receipt_url``)."""
    answer = await gateway.ask_for(LedgerOut, "wallet", GetLedger(user_id=principal.user_id))
    for entry in answer.entries:
        if entry.receipt_id is not None:
            entry.receipt_url = request.app.url_path_for("receipt", receipt_id=entry.receipt_id)
    return answer


@router.get(
    "/credits/receipts/{receipt_id}",
    name="receipt",
    response_class=Response,
    responses={
        200: {
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
            "description": "the receipt, a PDF",
        },
        **responses(ErrorCode.UNAUTHENTICATED, ErrorCode.NOT_FOUND, ErrorCode.SERVICE_UNAVAILABLE),
    },
)
async def receipt(receipt_id: str, principal: CurrentUser, gateway: GatewayDep) -> Response:
    """The receipt of one of the caller's credit purchases or refunds, as a PDF to keep:
    livevote, its number and date, the caller's e-mail address, the pack and its credits,
    the amount Stripe charged (or refunded) and Stripe's references. Its id is the
    ledger entry's ``receipt_id``; another user's receipt is NOT_FOUND, as is an unknown
    id."""
    if not re.fullmatch(RECEIPT_NUMBER, receipt_id):
        # Not a receipt number at all: no need to ask the wallet.
        raise ApiError(
            ErrorCode.NOT_FOUND, f"you have no receipt {receipt_id!r}", {"receipt_id": receipt_id}
        )
    user = await _user(gateway, principal.user_id)
    found = await gateway.ask_for(
        Receipt, "wallet", GetReceipt(user_id=user.id, receipt_id=receipt_id)
    )
    # Some milliseconds of drawing: not on the loop that serves every other request.
    pdf = await asyncio.to_thread(receipt_pdf, found, user.email)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="livevote-{receipt_id}.pdf"'},
    )


@router.post(
    "/credits/checkout",
    status_code=status.HTTP_201_CREATED,
    responses=responses(
        ErrorCode.UNAUTHENTICATED,
        ErrorCode.VALIDATION_ERROR,
        ErrorCode.NOT_FOUND,
        ErrorCode.SERVICE_UNAVAILABLE,
    ),
)
async def checkout(
    body: CheckoutRequest,
    principal: CurrentUser,
    gateway: GatewayDep,
    idempotency_key: IdempotencyKey = None,
) -> CheckoutOut:
    """Start buying a credit pack: send the user's browser to ``checkout_url`` (Stripe
    Checkout). The credits arrive once Stripe reports the payment."""
    settings = gateway.settings
    return await gateway.ask_for(
        CheckoutOut,
        "wallet",
        CreateCheckout(
            user_id=principal.user_id,
            pack_id=body.pack_id,
            success_url=str(settings.checkout_success_url),
            cancel_url=str(settings.checkout_cancel_url),
        ),
        message_id=await gateway.idempotency.message_id(
            idempotency_key, body, "checkout", principal.user_id
        ),
    )
