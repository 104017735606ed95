"""Commands, queries and events of the wallet service."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from contracts.envelope import Message

# Commands and queries (request-reply on the wallet's command queue).


class GetBalance(Message):
    """Replies ``{"user_id", "balance", "reserved", "available"}`` (0s for an unknown
    user); ``available`` = ``balance`` - ``reserved`` and never goes below zero."""

    type = "wallet.GetBalance"

    user_id: str


class GetLedger(Message):
    """Replies ``{"user_id", "balance", "entries": [{"at", "kind", "amount", "reason",
    "reference", "receipt_id"}]}``, newest first: every change of the user's credits
    (``receipt_id`` names the receipt of a purchase or a refund, else it is null)."""

    type = "wallet.GetLedger"

    user_id: str


# A receipt's number: "LV-", the day it was issued, P (purchase) or R (refund), and a
# code derived from Stripe's ids of the payment (and of the refund).
RECEIPT_NUMBER = r"^LV-[0-9]{8}-[PR]-[A-Z2-7]{12}$"


class GetReceipt(Message):
    """One receipt of the user's: replies ``Receipt``; NOT_FOUND when the user has no
    receipt of that number (another user's receipt included)."""

    type = "wallet.GetReceipt"

    user_id: str
    receipt_id: str = Field(pattern=RECEIPT_NUMBER)


class PurchaseOnReceipt(BaseModel):
    """The purchase a receipt is for, or the one a refund gave money back for."""

    receipt_id: str
    purchased_at: datetime
    pack_id: str
    pack_name: str
    credits: int
    # As Stripe charged it: in the currency's smallest unit (cents), and its ISO code.
    # Null only for purchases recorded before the wallet kept them, with no checkout
    # record to tell the price asked.
    charged_cents: int | None
    currency: str | None
    session_id: str = Field(description="Stripe's Checkout Session")
    payment_intent: str | None = Field(description="Stripe's PaymentIntent, when known")


class RefundOnReceipt(BaseModel):
    refunded_at: datetime
    refund_id: str = Field(description="Stripe's refund (or the charge's refund state)")
    # What this refund gave back, in the currency's smallest unit; null for refunds
    # recorded before the wallet kept it.
    refunded_cents: int | None
    currency: str | None
    credits_taken_back: int


class Receipt(BaseModel):
    """What a receipt shows, but the buyer's e-mail address: the wallet owns payments,
    the gateway owns users, and adds it."""

    receipt_id: str
    kind: Literal["purchase", "refund"]
    issued_at: datetime
    user_id: str
    purchase: PurchaseOnReceipt
    refund: RefundOnReceipt | None = None


class ListCreditChanges(Message):
    """Every user's credit changes made in ``[since, until)``, oldest first, a page at a
    time: the page after ``after`` (the previous page's ``next_cursor``). Replies
    ``CreditChanges``."""

    type = "wallet.ListCreditChanges"

    since: datetime
    until: datetime
    after: str | None = None
    limit: int = Field(default=1000, ge=1, le=5000)


CreditChangeKind = Literal["grant", "purchase", "reserve", "debit", "release", "refund"]


class CreditChange(BaseModel):
    """One change of one user's credits: the event that made it, as an accountant reads it."""

    event_id: str
    at: datetime
    user_id: str
    kind: CreditChangeKind
    # The credits the change is about (positive).
    amount: int
    # What it did to the balance: added (grant, purchase), taken (debit, refund), or
    # nothing (a reservation held or released changes what is available, not the balance).
    balance_change: int
    voting_id: str | None
    # The session of a purchase or refund, the reservation (the vote) of a paid vote's
    # credit, the operator of a grant.
    reference: str | None
    reason: str


class CreditChanges(BaseModel):
    items: list[CreditChange]
    next_cursor: str | None


class GrantCredits(Message):
    """An operator's grant (support, goodwill, tests). Replies like GetBalance."""

    type = "wallet.GrantCredits"

    user_id: str
    amount: int = Field(gt=0, le=1_000_000)
    reason: str = Field(min_length=1, max_length=500)
    granted_by: str


class ListCreditPacks(Message):
    """Replies ``[{"id", "credits", "price_cents", "currency", "name"}]``."""

    type = "wallet.ListCreditPacks"


class CreateCheckout(Message):
    """Start a Stripe Checkout Session for a pack. Replies ``{"session_id",
    "checkout_url", "pack_id"}``; NOT_FOUND for an unknown pack."""

    type = "wallet.CreateCheckout"

    user_id: str
    pack_id: str
    success_url: str
    cancel_url: str


class ApplyStripeEvent(Message):
    """A Stripe webhook event whose signature the gateway verified. Replies
    ``{"applied": bool}``; unknown event types are acknowledged and ignored."""

    type = "wallet.ApplyStripeEvent"

    event_id: str
    event_type: str
    created: int
    data_object: dict[str, Any]


# Events.


class AccountOpened(Message):
    type = "wallet.AccountOpened"
    routing_key = "wallet.account_opened"

    user_id: str


class CreditsGranted(Message):
    type = "wallet.CreditsGranted"
    routing_key = "wallet.credits_granted"

    user_id: str
    amount: int
    reason: str
    granted_by: str


class CreditsPurchased(Message):
    """A paid Checkout Session's credits added. ``amount`` is in credits; what Stripe
    charged is ``charged_cents`` of ``currency`` (its smallest unit: cents)."""

    type = "wallet.CreditsPurchased"
    routing_key = "wallet.credits_purchased"
    # 2: what Stripe charged, the payment intent and the pack's name (absent from 1).
    schema_version = 2

    user_id: str
    amount: int
    pack_id: str
    session_id: str
    pack_name: str | None = None
    charged_cents: int | None = None
    currency: str | None = None
    payment_intent: str | None = None


class CreditsRefunded(Message):
    """Credits taken back because Stripe refunded the purchase (may go below zero:
    the credits may already have been spent)."""

    type = "wallet.CreditsRefunded"
    routing_key = "wallet.credits_refunded"
    # 2: the money this refund gave back (absent from 1).
    schema_version = 2

    user_id: str
    amount: int
    session_id: str
    refund_id: str
    refunded_cents: int | None = None
    currency: str | None = None


class CreditsReserved(Message):
    """One credit held for a requested paid vote (the reservation id is the vote id)."""

    type = "wallet.CreditsReserved"
    routing_key = "wallet.credits_reserved"

    user_id: str
    reservation_id: str
    voting_id: str
    amount: int
    expires_at: datetime
    # The request's answer_shard (contracts.voting.VoteRequested), where this goes.
    answer_shard: int | None = None


class CreditsReservationFailed(Message):
    type = "wallet.CreditsReservationFailed"
    routing_key = "wallet.credits_reservation_failed"

    user_id: str
    reservation_id: str
    voting_id: str
    reason: str  # an ErrorCode: INSUFFICIENT_CREDITS
    answer_shard: int | None = None  # as CreditsReserved's


class CreditsDebited(Message):
    """A reservation committed: the vote was counted."""

    type = "wallet.CreditsDebited"
    routing_key = "wallet.credits_debited"

    user_id: str
    reservation_id: str
    voting_id: str
    amount: int


class CreditsReleased(Message):
    """A reservation released: the vote was rejected, or the reservation timed out."""

    type = "wallet.CreditsReleased"
    routing_key = "wallet.credits_released"

    user_id: str
    reservation_id: str
    voting_id: str
    amount: int
    reason: Literal["vote_rejected", "timeout"]
