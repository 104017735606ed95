"""Stripe's report of a paid Checkout Session, as the webhook receives it, for the
scripts and tests that stand in for Stripe (the soak, the browser tests)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import stripe


def paid_checkout(session_id: str, user_id: str, pack_id: str) -> dict[str, Any]:
    """A ``checkout.session.completed`` event of a new id for a paid session."""
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "api_version": "2025-06-30.basil",
        "created": int(time.time()),
        "livemode": False,
        "type": "checkout.session.completed",
        "data": {
            "object": {
                "id": session_id,
                "object": "checkout.session",
                "amount_total": 500,
                "client_reference_id": user_id,
                "metadata": {"user_id": user_id, "pack_id": pack_id},
                "payment_status": "paid",
            }
        },
    }


def delivery(event: dict[str, Any], secret: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one delivery, signed now as Stripe signs each one."""
    payload = json.dumps(event)
    signature = stripe.WebhookSignature.generate_signature_header(payload, secret)
    headers = {"Content-Type": "application/json", "Stripe-Signature": signature}
    return payload.encode(), headers
