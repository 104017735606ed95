"""What the wallet reads out of Stripe's events: which Checkout Session was paid, by
whom, for what and how much, and what a refund gave back. Pure: no I/O.

A field that is missing or of another type is read as unknown rather than raising:
Stripe retries an event that fails, and it would fail again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CHECKOUT_COMPLETED = "checkout.session.completed"
ASYNC_PAYMENT_SUCCEEDED = "checkout.session.async_payment_succeeded"
ASYNC_PAYMENT_FAILED = "checkout.session.async_payment_failed"
CHARGE_REFUNDED = "charge.refunded"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _currency(value: Any) -> str | None:
    """An ISO 4217 code as Stripe writes it (lowercase)."""
    text = _text(value)
    return text.lower() if text is not None and len(text) == 3 and text.isalpha() else None


def _reference(value: Any) -> str | None:
    """An id Stripe may send as a string or, expanded, as an object with an id."""
    if isinstance(value, Mapping):
        return _text(value.get("id"))
    return _text(value)


@dataclass(frozen=True)
class SessionReport:
    """A Checkout Session as a Stripe event shows it."""

    session_id: str
    paid: bool
    payment_intent: str | None
    user_id: str | None
    pack_id: str | None
    # What Stripe charges (or charged) for the session: its smallest unit, and ISO code.
    amount_total: int | None = None
    currency: str | None = None

    @classmethod
    def parse(cls, event_type: str, session: Mapping[str, Any]) -> SessionReport | None:
        session_id = _text(session.get("id"))
        if session_id is None:
            return None
        metadata = session.get("metadata")
        metadata = metadata if isinstance(metadata, Mapping) else {}
        # A delayed method (bank debits, some wallets) completes the session unpaid and
        # pays later: only async_payment_succeeded says the money arrived.
        paid = event_type == ASYNC_PAYMENT_SUCCEEDED or (
            event_type == CHECKOUT_COMPLETED and session.get("payment_status") == "paid"
        )
        return cls(
            session_id=session_id,
            paid=paid,
            payment_intent=_reference(session.get("payment_intent")),
            user_id=_text(metadata.get("user_id")) or _text(session.get("client_reference_id")),
            pack_id=_text(metadata.get("pack_id")),
            amount_total=_whole(session.get("amount_total")),
            currency=_currency(session.get("currency")),
        )


@dataclass(frozen=True)
class RefundReport:
    """A refunded Charge as a ``charge.refunded`` event shows it."""

    payment_intent: str
    refund_id: str
    charged_cents: int
    # What Stripe has refunded of the charge in all, so far.
    refunded_cents: int
    currency: str | None = None

    @classmethod
    def parse(cls, charge: Mapping[str, Any]) -> RefundReport | None:
        payment_intent = _reference(charge.get("payment_intent"))
        amount, refunded = _whole(charge.get("amount")), _whole(charge.get("amount_refunded"))
        if payment_intent is None or amount is None or refunded is None:
            return None
        refunds = charge.get("refunds")
        listed = refunds.get("data") if isinstance(refunds, Mapping) else None
        refund_ids = [
            refund_id
            for refund in (listed if isinstance(listed, list) else [])
            if isinstance(refund, Mapping)
            and refund.get("status") not in ("failed", "canceled")
            and (refund_id := _text(refund.get("id"))) is not None
        ]
        # Stripe lists refunds newest first. Since API version 2022-11-15 a Charge no
        # longer embeds its refunds; its running total still names the refund state.
        charge_id = _text(charge.get("id")) or payment_intent
        refund_id = refund_ids[0] if refund_ids else f"{charge_id}:{refunded}"
        return cls(payment_intent, refund_id, amount, refunded, _currency(charge.get("currency")))
