"""Credit accounts, checkouts and Stripe payments. Pure: no I/O.

An account is the stream ``account-<user id>``; its balance is what its events add up
to. A reservation (its id is the vote's id) holds credits for a requested paid vote
until the vote is cast (debited) or rejected or the reservation times out (released);
the account's state machine makes every step happen once however often it is asked.

A checkout is the stream ``checkout-<session id>``: which user bought which pack. A
payment is the stream ``payment-<session id>``: its first event decides, once for all
replicas and deliveries, whose credits a paid session becomes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from contracts import ErrorCode, Message
from contracts.wallet import (
    AccountOpened,
    CreditsDebited,
    CreditsGranted,
    CreditsPurchased,
    CreditsRefunded,
    CreditsReleased,
    CreditsReservationFailed,
    CreditsReserved,
)
from eventing.aggregate import Aggregate


class UnknownEvent(Exception):
    """The stream holds an event this code cannot apply: its state cannot be rebuilt."""

    def __init__(self, aggregate: Aggregate, event: Message) -> None:
        super().__init__(f"{aggregate.stream} does not apply {event.type}")


# Private events: no routing key, so they never leave the wallet.


class CheckoutStarted(Message):
    """The wallet opened a Stripe Checkout Session for a user and a pack."""

    type = "wallet.CheckoutStarted"

    session_id: str
    user_id: str
    pack_id: str
    credits: int
    price_cents: int
    currency: str


class PaymentReceived(Message):
    """Stripe reported a session paid; its credits go to this user."""

    type = "wallet.PaymentReceived"
    # 2: what Stripe charged (absent from 1).
    schema_version = 2

    session_id: str
    user_id: str
    pack_id: str
    credits: int
    payment_intent: str | None
    amount_total: int | None = None
    currency: str | None = None


@dataclass(frozen=True)
class Charge:
    """What Stripe charged for a purchase, as far as it is known."""

    cents: int | None = None
    currency: str | None = None
    payment_intent: str | None = None


# Accounts.

ReservationState = Literal["reserved", "debited", "released", "failed"]
CommitOutcome = Literal["debited", "debited_after_release", "already_debited", "not_reserved"]


@dataclass(frozen=True, slots=True)
class Reservation:
    voting_id: str
    amount: int
    state: ReservationState
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Purchase:
    pack_id: str
    credits: int
    # Credits taken back by refunds so far; never more than ``credits``.
    refunded: int = 0
    # Money the recorded refunds gave back, in the currency's smallest unit.
    refunded_cents: int = 0


class Account(Aggregate):
    stream_prefix = "account"
    # Every purchase, reservation and vote of the user passes through.
    snapshot_after = 20

    def __init__(self, user_id: str) -> None:
        super().__init__(user_id)
        self.is_open = False
        # Whole credits. Reservations never take it below zero; a refund of credits
        # already spent (or a vote cast after its reservation lapsed) can.
        self.balance = 0
        # Credits held by open reservations.
        self.reserved = 0
        self.reservations: dict[str, Reservation] = {}
        # By Checkout Session id.
        self.purchases: dict[str, Purchase] = {}
        self.refunds: set[str] = set()

    def copy(self) -> Account:
        """A copy that shares the reservations and purchases, which are immutable: a deep
        copy of a long account's history cost more than deciding on it."""
        twin = self._shallow_copy()
        twin.reservations = dict(self.reservations)
        twin.purchases = dict(self.purchases)
        twin.refunds = set(self.refunds)
        return twin

    @property
    def user_id(self) -> str:
        return self.id

    @property
    def available(self) -> int:
        """What a new reservation may take."""
        return max(0, self.balance - self.reserved)

    def view(self) -> dict[str, Any]:
        return {
            "user_id": self.id,
            "balance": self.balance,
            "reserved": self.reserved,
            "available": self.available,
        }

    def open(self) -> None:
        """Open the account; opening an open account changes nothing."""
        if not self.is_open:
            self.trigger(AccountOpened(user_id=self.id))

    # Credits in and out --------------------------------------------------------------

    def grant(self, amount: int, reason: str, granted_by: str) -> None:
        if amount <= 0:
            raise ValueError("a grant adds credits")
        self.open()
        self.trigger(
            CreditsGranted(user_id=self.id, amount=amount, reason=reason, granted_by=granted_by)
        )

    def purchase(
        self,
        session_id: str,
        pack_id: str,
        credits: int,
        charge: Charge | None = None,
        pack_name: str | None = None,
    ) -> bool:
        """Add a paid session's credits; False when this session was credited already."""
        if session_id in self.purchases:
            return False
        if credits <= 0:
            raise ValueError("a purchase adds credits")
        charge = charge or Charge()
        self.open()
        self.trigger(
            CreditsPurchased(
                user_id=self.id,
                amount=credits,
                pack_id=pack_id,
                session_id=session_id,
                pack_name=pack_name,
                charged_cents=charge.cents,
                currency=charge.currency,
                payment_intent=charge.payment_intent,
            )
        )
        return True

    def refund(
        self,
        session_id: str,
        refund_id: str,
        charged_cents: int,
        refunded_cents: int,
        currency: str | None = None,
    ) -> int:
        """Take back a refunded purchase's credits; how many were taken back now.

        ``refunded_cents`` is what Stripe has refunded of the charge in all: a partial
        refund takes back its share of the pack's credits (rounded down), a full refund
        the rest. Working from the total makes copies and out-of-order deliveries of
        refund events harmless: a stale total asks for nothing more. The money recorded
        with it is what the total grew by since the last refund recorded (a refund too
        small to take back a credit is counted with the next one that does).
        """
        purchase = self.purchases.get(session_id)
        if purchase is None or refund_id in self.refunds or charged_cents <= 0:
            return 0
        if refunded_cents >= charged_cents:
            due = purchase.credits
        else:
            due = purchase.credits * max(0, refunded_cents) // charged_cents
        amount = due - purchase.refunded
        if amount <= 0:
            return 0
        self.trigger(
            CreditsRefunded(
                user_id=self.id,
                amount=amount,
                session_id=session_id,
                refund_id=refund_id,
                refunded_cents=max(0, refunded_cents - purchase.refunded_cents),
                currency=currency,
            )
        )
        return amount

    # The paid-vote saga ---------------------------------------------------------------

    def reserve(
        self,
        reservation_id: str,
        voting_id: str,
        amount: int,
        expires_at: datetime,
        answer_shard: int | None = None,
    ) -> None:
        """Hold ``amount`` credits for a requested vote, or record why not; a reservation
        already decided (either way) is not decided again. The answer goes to the saga
        queue the request named (``answer_shard``)."""
        if reservation_id in self.reservations:
            return
        if amount <= 0:
            self._fail(reservation_id, voting_id, ErrorCode.VALIDATION_ERROR, answer_shard)
        elif self.available < amount:
            self._fail(reservation_id, voting_id, ErrorCode.INSUFFICIENT_CREDITS, answer_shard)
        else:
            self.trigger(
                CreditsReserved(
                    user_id=self.id,
                    reservation_id=reservation_id,
                    voting_id=voting_id,
                    amount=amount,
                    expires_at=expires_at,
                    answer_shard=answer_shard,
                )
            )

    def _fail(
        self, reservation_id: str, voting_id: str, reason: ErrorCode, answer_shard: int | None
    ) -> None:
        self.trigger(
            CreditsReservationFailed(
                user_id=self.id,
                reservation_id=reservation_id,
                voting_id=voting_id,
                reason=reason,
                answer_shard=answer_shard,
            )
        )

    def commit(self, reservation_id: str) -> CommitOutcome:
        """The vote was counted: debit its reservation, once.

        A reservation released already (it timed out before the vote's confirmation
        arrived) is debited all the same: the vote counts, so its credit is spent, even
        if that takes the balance below zero.
        """
        reservation = self.reservations.get(reservation_id)
        if reservation is None or reservation.state == "failed":
            return "not_reserved"
        if reservation.state == "debited":
            return "already_debited"
        outcome: CommitOutcome = "debited"
        if reservation.state == "released":
            outcome = "debited_after_release"
        self.trigger(
            CreditsDebited(
                user_id=self.id,
                reservation_id=reservation_id,
                voting_id=reservation.voting_id,
                amount=reservation.amount,
            )
        )
        return outcome

    def release(self, reservation_id: str) -> bool:
        """The vote was rejected: give its held credits back (True when this released it)."""
        return self._release(reservation_id, "vote_rejected")

    def expire(self, reservation_id: str, now: datetime) -> bool:
        """Release a reservation that outlived its timeout (True when this released it)."""
        reservation = self.reservations.get(reservation_id)
        if reservation is None or reservation.expires_at is None or reservation.expires_at > now:
            return False
        return self._release(reservation_id, "timeout")

    def _release(self, reservation_id: str, reason: Literal["vote_rejected", "timeout"]) -> bool:
        reservation = self.reservations.get(reservation_id)
        if reservation is None or reservation.state != "reserved":
            return False
        self.trigger(
            CreditsReleased(
                user_id=self.id,
                reservation_id=reservation_id,
                voting_id=reservation.voting_id,
                amount=reservation.amount,
                reason=reason,
            )
        )
        return True

    def open_reservation(self, reservation_id: str) -> Reservation | None:
        reservation = self.reservations.get(reservation_id)
        return reservation if reservation is not None and reservation.state == "reserved" else None

    # Replay --------------------------------------------------------------------------

    def apply(self, event: Message) -> None:
        match event:
            case AccountOpened():
                self.is_open = True
            case CreditsGranted(amount=amount):
                self.balance += amount
            case CreditsPurchased(amount=amount, pack_id=pack_id, session_id=session_id):
                self.balance += amount
                self.purchases[session_id] = Purchase(pack_id, amount)
            case CreditsRefunded(amount=amount, session_id=session_id, refund_id=refund_id):
                self.balance -= amount
                self.refunds.add(refund_id)
                if (purchase := self.purchases.get(session_id)) is not None:
                    self.purchases[session_id] = replace(
                        purchase,
                        refunded=purchase.refunded + amount,
                        refunded_cents=purchase.refunded_cents + (event.refunded_cents or 0),
                    )
            case CreditsReserved():
                self.reserved += event.amount
                self.reservations[event.reservation_id] = Reservation(
                    event.voting_id, event.amount, "reserved", event.expires_at
                )
            case CreditsReservationFailed():
                self.reservations[event.reservation_id] = Reservation(event.voting_id, 0, "failed")
            case CreditsDebited():
                reservation = self.reservations[event.reservation_id]
                if reservation.state == "reserved":
                    self.reserved -= reservation.amount
                self.reservations[event.reservation_id] = replace(reservation, state="debited")
                self.balance -= event.amount
            case CreditsReleased():
                reservation = self.reservations[event.reservation_id]
                self.reserved -= reservation.amount
                self.reservations[event.reservation_id] = replace(reservation, state="released")
            case _:
                raise UnknownEvent(self, event)


# Checkouts and payments --------------------------------------------------------------


class Checkout(Aggregate):
    stream_prefix = "checkout"

    def __init__(self, session_id: str) -> None:
        super().__init__(session_id)
        self.started: CheckoutStarted | None = None

    def start(self, started: CheckoutStarted) -> None:
        if self.started is None:
            self.trigger(started)

    def apply(self, event: Message) -> None:
        if not isinstance(event, CheckoutStarted):
            raise UnknownEvent(self, event)
        self.started = event


class Payment(Aggregate):
    stream_prefix = "payment"

    def __init__(self, session_id: str) -> None:
        super().__init__(session_id)
        self.received: PaymentReceived | None = None

    def receive(self, received: PaymentReceived) -> None:
        """Record the payment; the first record stands, whatever a later copy says."""
        if self.received is None:
            self.trigger(received)

    def apply(self, event: Message) -> None:
        if not isinstance(event, PaymentReceived):
            raise UnknownEvent(self, event)
        self.received = event
