"""Stripe's events as the webhook receives them (a paid Checkout Session, a refunded
charge), for the scripts and tests that stand in for Stripe (the soak, the browser and
receipt tests)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import stripe


def _event(event_type: str, data_object: dict[str, Any]) -> dict[str, Any]:
    """An event of a new id, created now."""
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "api_version": "2025-06-30.basil",
        "created": int(time.time()),
        "livemode": False,
        "type": event_type,
        "data": {"object": data_object},
    }


def paid_checkout(
    session_id: str,
    user_id: str,
    pack_id: str,
    *,
    amount_total: int = 500,
    currency: str = "eur",
    payment_intent: str | None = None,
) -> dict[str, Any]:
    """A ``checkout.session.completed`` event of a new id for a paid session."""
    return _event(
        "checkout.session.completed",
        {
            "id": session_id,
            "object": "checkout.session",
            "amount_total": amount_total,
            "currency": currency,
            "client_reference_id": user_id,
            "metadata": {"user_id": user_id, "pack_id": pack_id},
            "payment_intent": payment_intent or f"pi_{uuid.uuid4().hex[:24]}",
            "payment_status": "paid",
        },
    )


def refunded_charge(
    payment_intent: str,
    *,
    amount: int,
    amount_refunded: int,
    refund_id: str,
    currency: str = "eur",
) -> dict[str, Any]:
    """A ``charge.refunded`` event: of the ``amount`` charged for the payment intent,
    Stripe has refunded ``amount_refunded`` in all, the newest refund being
    ``refund_id``."""
    return _event(
        "charge.refunded",
        {
            "id": f"ch_{payment_intent.removeprefix('pi_')}",
            "object": "charge",
            "payment_intent": payment_intent,
            "amount": amount,
            "amount_refunded": amount_refunded,
            "currency": currency,
            "refunded": amount_refunded >= amount,
            "refunds": {
                "object": "list",
                "data": [{"id": refund_id, "object": "refund", "status": "succeeded"}],
            },
        },
    )


def delivery(event: dict[str, Any], secret: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one delivery, signed now as Stripe signs each one."""
    payload = json.dumps(event)
    signature = stripe.WebhookSignature.generate_signature_header(payload, secret)
    headers = {"Content-Type": "application/json", "Stripe-Signature": signature}
    return payload.encode(), headers
