"""What a user is shown of their account: its ledger, and a receipt for every purchase
and every refund. Pure: no I/O; both are read from the account's events as recorded.

A receipt's number is made from what identifies the purchase or refund for good: the day
it was recorded and Stripe's ids of the Checkout Session (and of the refund), so the
same receipt has the same number on every reading, in every process, and needs no
counter or index of its own. ``LV-20260514-P-7K2M9QX4TB3F``: a purchase (``P``) or a
refund (``R``), and 60 bits of a SHA-256 of those ids in base 32.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from contracts import Message
from contracts.wallet import (
    CreditsDebited,
    CreditsGranted,
    CreditsPurchased,
    CreditsRefunded,
    PurchaseOnReceipt,
    Receipt,
    RefundOnReceipt,
)

# Receipts ------------------------------------------------------------------------------


def receipt_number(event: CreditsPurchased | CreditsRefunded, at: datetime) -> str:
    """The number of the receipt of a purchase or a refund recorded at ``at``."""
    if isinstance(event, CreditsPurchased):
        kind, identity = "P", f"purchase:{event.session_id}"
    else:
        kind, identity = "R", f"refund:{event.session_id}:{event.refund_id}"
    digest = hashlib.sha256(identity.encode()).digest()
    code = base64.b32encode(digest).decode()[:12]
    return f"LV-{at.astimezone(UTC):%Y%m%d}-{kind}-{code}"


def _pack_name(event: CreditsPurchased, pack_names: Mapping[str, str]) -> str:
    """The pack's name as bought; for purchases recorded without it, as named now."""
    return event.pack_name or pack_names.get(event.pack_id, event.pack_id)


def _purchase_on_receipt(
    event: CreditsPurchased, at: datetime, pack_names: Mapping[str, str]
) -> PurchaseOnReceipt:
    return PurchaseOnReceipt(
        receipt_id=receipt_number(event, at),
        purchased_at=at,
        pack_id=event.pack_id,
        pack_name=_pack_name(event, pack_names),
        credits=event.amount,
        charged_cents=event.charged_cents,
        currency=event.currency,
        session_id=event.session_id,
        payment_intent=event.payment_intent,
    )


def find_receipt(
    history: Iterable[tuple[Message, datetime]],
    receipt_id: str,
    pack_names: Mapping[str, str],
) -> Receipt | None:
    """The receipt numbered ``receipt_id`` among an account's events (each with when it
    was recorded), or None: an account holds only its own user's receipts."""
    purchases: dict[str, PurchaseOnReceipt] = {}
    for event, at in history:
        if isinstance(event, CreditsPurchased):
            purchase = _purchase_on_receipt(event, at, pack_names)
            purchases[event.session_id] = purchase
            if purchase.receipt_id == receipt_id:
                return Receipt(
                    receipt_id=receipt_id,
                    kind="purchase",
                    issued_at=at,
                    user_id=event.user_id,
                    purchase=purchase,
                )
        elif isinstance(event, CreditsRefunded) and receipt_number(event, at) == receipt_id:
            # An account records a refund only of a purchase it recorded before.
            refunded = purchases.get(event.session_id)
            if refunded is None:
                return None
            return Receipt(
                receipt_id=receipt_id,
                kind="refund",
                issued_at=at,
                user_id=event.user_id,
                purchase=refunded,
                refund=RefundOnReceipt(
                    refunded_at=at,
                    refund_id=event.refund_id,
                    refunded_cents=event.refunded_cents,
                    currency=event.currency or refunded.currency,
                    credits_taken_back=event.amount,
                ),
            )
    return None


# The ledger ----------------------------------------------------------------------------

LedgerKind = Literal["purchase", "grant", "vote", "refund"]


@dataclass(frozen=True)
class LedgerEntry:
    at: datetime
    kind: LedgerKind
    amount: int  # signed: what the change added to the balance
    reason: str
    reference: str | None
    # The receipt of a purchase or a refund.
    receipt_id: str | None = None

    def view(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "kind": self.kind,
            "amount": self.amount,
            "reason": self.reason,
            "reference": self.reference,
            "receipt_id": self.receipt_id,
        }


def ledger_entry(event: Message, at: datetime, pack_names: Mapping[str, str]) -> LedgerEntry | None:
    """The ledger line of an account event; None for events that do not move the balance
    (opening, reservations held and released)."""
    match event:
        case CreditsGranted():
            return LedgerEntry(at, "grant", event.amount, event.reason, event.granted_by)
        case CreditsPurchased():
            return LedgerEntry(
                at,
                "purchase",
                event.amount,
                f"Bought {_pack_name(event, pack_names)}",
                event.session_id,
                receipt_number(event, at),
            )
        case CreditsDebited():
            return LedgerEntry(at, "vote", -event.amount, "Paid vote", event.voting_id)
        case CreditsRefunded():
            return LedgerEntry(
                at,
                "refund",
                -event.amount,
                "Purchase refunded by Stripe",
                event.session_id,
                receipt_number(event, at),
            )
        case _:
            return None
