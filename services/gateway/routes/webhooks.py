"""Stripe's webhook: events whose signature verifies are handed to the wallet.

The signature covers the exact bytes Stripe sent, so the body is read raw and checked
before anything parses it; an event that does not verify is refused with 400 and goes
nowhere. Stripe retries anything but a 2xx, which is what a 503 relies on.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import stripe
from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts import ErrorCode
from contracts.wallet import ApplyStripeEvent
from eventing.logs import get_logger
from services.gateway.dependencies import GatewayDep
from services.gateway.errors import ApiError, ErrorResponse, responses
from services.gateway.idempotency import command_id
from services.gateway.schemas import WebhookReceived

log = get_logger(__name__)

router = APIRouter(prefix="/stripe", tags=["payments"])


class _EventData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    object_: dict[str, Any] = Field(alias="object")


class _StripeEvent(BaseModel):
    """The parts of a Stripe event the wallet is told about."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    type: str = Field(min_length=1)
    created: int
    data: _EventData


# How far ahead of ours Stripe's clock may be.
CLOCK_SKEW_SECONDS = 60


def _signed_at(signature: str) -> int | None:
    """The ``t=`` timestamp of a Stripe-Signature header."""
    for part in signature.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            return int(value)
    return None


def _refused(message: str, **details: Any) -> ApiError:
    # 400, as Stripe's documentation has it, rather than the API's usual 422.
    return ApiError(ErrorCode.VALIDATION_ERROR, message, details, status=400)


@router.post(
    "/webhook",
    responses={
        400: {
            "model": ErrorResponse,
            "description": "VALIDATION_ERROR: the signature is missing, does not verify or "
            "is too old, or the body is not a Stripe event",
        },
        **responses(ErrorCode.SERVICE_UNAVAILABLE),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A Stripe event, exactly as Stripe sent it.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def stripe_webhook(
    request: Request,
    gateway: GatewayDep,
    stripe_signature: Annotated[
        str | None,
        Header(alias="Stripe-Signature", description="Stripe's signature of the body"),
    ] = None,
) -> WebhookReceived:
    """Receive a Stripe event (payments, refunds). Called by Stripe, not by users: it is
    authenticated by its signature with the endpoint's signing secret."""
    settings = gateway.settings
    if settings.stripe_webhook_secret is None:
        log.error("a Stripe webhook arrived, but LIVEVOTE_STRIPE_WEBHOOK_SECRET is not set")
        raise ApiError(ErrorCode.SERVICE_UNAVAILABLE, "Stripe webhooks are not configured here")
    if not stripe_signature:
        raise _refused("the Stripe-Signature header is missing")
    payload = await request.body()
    try:
        stripe.Webhook.construct_event(
            payload,
            stripe_signature,
            settings.stripe_webhook_secret.get_secret_value(),
            tolerance=settings.stripe_webhook_tolerance_seconds,
        )
    except stripe.SignatureVerificationError as error:
        log.warning("refused a Stripe webhook whose signature does not verify", error=str(error))
        raise _refused(
            "the Stripe-Signature does not verify: it is not Stripe's signature of this body "
            "with this endpoint's secret, or it is too old",
            reason=error.user_message or str(error),
        ) from None
    except (ValueError, TypeError, AttributeError):
        # Signed, but not JSON (or not an event): nothing a retry would change.
        raise _refused("the body is not a Stripe event") from None
    signed_at = _signed_at(stripe_signature)
    if signed_at is None or signed_at > time.time() + CLOCK_SKEW_SECONDS:
        # Stripe's library only checks that a signature is not too old; one dated in the
        # future would stay replayable until then.
        log.warning("refused a Stripe webhook signed in the future", signed_at=signed_at)
        raise _refused("the Stripe-Signature is dated in the future")
    try:
        # Read from the bytes that were verified, so the wallet gets exactly what Stripe sent.
        event = _StripeEvent.model_validate(json.loads(payload))
    except (ValueError, ValidationError):
        raise _refused("the body is not a Stripe event") from None
    await gateway.ask(
        "wallet",
        ApplyStripeEvent(
            event_id=event.id,
            event_type=event.type,
            created=event.created,
            data_object=event.data.object_,
        ),
        # Stripe delivers an event again until it sees a 2xx: every copy is one command.
        message_id=command_id(event.id, "stripe-event"),
    )
    log.info("Stripe event handed to the wallet", event_id=event.id, event_type=event.type)
    return WebhookReceived()
