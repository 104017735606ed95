"""The wallet's message handlers: accounts and credits, Stripe, and the wallet's side of
the paid-vote saga (reserve on VoteRequested, debit on a paid VoteCast, release on
VoteRejected or when a reservation outlives its timeout).

Every change is an append at the account's version: two handlers deciding on one account
at once (two replicas, two copies of a message) cannot both win; the loser reloads and
decides again, and the account's state machine makes a repeated step a no-op. So the
event handlers need no message-id dedupe of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from datetime import timedelta

from contracts import Envelope, ErrorCode, Message, Reply
from contracts.gateway import UserRegistered
from contracts.voting import VoteCast, VoteRejected, VoteRequested
from contracts.wallet import (
    ApplyStripeEvent,
    CreateCheckout,
    GetBalance,
    GrantCredits,
    ListCreditPacks,
)
from eventing.bus import CommandHandler, EventHandler
from eventing.clock import Clock
from eventing.logs import get_logger
from eventing.repository import Repository, T
from eventing.store import ConcurrencyConflict
from services.wallet.checkout import StripeCheckout, StripeUnavailable
from services.wallet.domain import (
    Account,
    Charge,
    Checkout,
    CheckoutStarted,
    Payment,
    PaymentReceived,
)
from services.wallet.settings import WalletSettings
from services.wallet.store import Accounts, OpenReservation, WalletReadModels
from services.wallet.stripe_reports import (
    ASYNC_PAYMENT_FAILED,
    ASYNC_PAYMENT_SUCCEEDED,
    CHARGE_REFUNDED,
    CHECKOUT_COMPLETED,
    RefundReport,
    SessionReport,
)

log = get_logger(__name__)

# Expired reservations released per sweep, and at once.
SWEEP_BATCH = 500
SWEEP_CONCURRENCY = 16


class WalletHandlers:
    def __init__(
        self,
        accounts: Accounts,
        checkouts: Repository[Checkout],
        payments: Repository[Payment],
        read_models: WalletReadModels,
        stripe: StripeCheckout,
        settings: WalletSettings,
        clock: Clock,
    ) -> None:
        self._accounts = accounts
        self._checkouts = checkouts
        self._payments = payments
        self._read_models = read_models
        self._stripe = stripe
        self._settings = settings
        self._clock = clock
        self._reservation_timeout = timedelta(seconds=settings.wallet_reservation_timeout_seconds)

    def commands(self) -> Mapping[type[Message], CommandHandler]:
        return {
            GetBalance: self.get_balance,
            GrantCredits: self.grant_credits,
            ListCreditPacks: self.list_credit_packs,
            CreateCheckout: self.create_checkout,
            ApplyStripeEvent: self.apply_stripe_event,
        }

    def events(self) -> Mapping[type[Message], EventHandler]:
        return {
            UserRegistered: self.user_registered,
            VoteRequested: self.vote_requested,
            VoteCast: self.vote_cast,
            VoteRejected: self.vote_rejected,
        }

    async def _change(
        self,
        user_id: str,
        decide: Callable[[Account], T],
        cause: Envelope | None = None,
        correlation_id: str | None = None,
    ) -> tuple[Account, T]:
        """Decide on the account as it stands and append what that produced; on a lost
        race, reload and decide again. Returns the account after the change."""
        changed = await self._accounts.change(
            user_id, decide, cause=cause, correlation_id=correlation_id
        )
        assert changed is not None  # an account is created on first use
        account, outcome, _ = changed
        return account, outcome

    # Accounts -------------------------------------------------------------------------

    async def user_registered(self, event: Message, envelope: Envelope) -> None:
        assert isinstance(event, UserRegistered)
        account, _ = await self._change(event.user_id, Account.open, cause=envelope)
        log.debug("account open", user_id=event.user_id, version=account.version)

    async def get_balance(self, query: Message, _: Envelope) -> Reply:
        assert isinstance(query, GetBalance)
        # A user the wallet has not heard of (yet) simply has no credits.
        account = await self._accounts.get_or_new(query.user_id)
        return Reply.ok(account.view())

    async def grant_credits(self, command: Message, envelope: Envelope) -> Reply:
        assert isinstance(command, GrantCredits)
        reason = command.reason.strip()
        if not reason:
            return Reply.fail(ErrorCode.VALIDATION_ERROR, "a grant needs a reason")

        def grant(account: Account) -> None:
            # A copy of a command the account already carried out grants nothing more.
            if envelope.message_id not in account.causes:
                account.grant(command.amount, reason, command.granted_by)

        account, _ = await self._change(command.user_id, grant, cause=envelope)
        log.info(
            "credits granted",
            user_id=command.user_id,
            amount=command.amount,
            granted_by=command.granted_by,
        )
        return Reply.ok(account.view())

    # Credit packs and Stripe ----------------------------------------------------------

    async def list_credit_packs(self, _: Message, __: Envelope) -> Reply:
        return Reply.ok([pack.view() for pack in self._settings.credit_packs])

    async def create_checkout(self, command: Message, envelope: Envelope) -> Reply:
        assert isinstance(command, CreateCheckout)
        pack = self._settings.pack(command.pack_id)
        if pack is None:
            return Reply.fail(ErrorCode.NOT_FOUND, f"there is no credit pack {command.pack_id!r}")
        try:
            session = await self._stripe.create_session(
                user_id=command.user_id,
                pack=pack,
                success_url=command.success_url,
                cancel_url=command.cancel_url,
                # A copy of the command gets the session the first one made.
                idempotency_key=f"livevote-checkout-{envelope.message_id}",
            )
        except StripeUnavailable as error:
            log.warning("Stripe did not create a Checkout Session", error=str(error))
            return Reply.fail(
                ErrorCode.SERVICE_UNAVAILABLE, "payments are not available right now; try again"
            )
        checkout = await self._checkouts.get_or_new(session.session_id)
        checkout.start(
            CheckoutStarted(
                session_id=session.session_id,
                user_id=command.user_id,
                pack_id=pack.id,
                credits=pack.credits,
                price_cents=pack.price_cents,
                currency=pack.currency,
            )
        )
        if checkout.pending:
            # A copy of this command may have recorded the same session first.
            with contextlib.suppress(ConcurrencyConflict):
                await self._checkouts.save(checkout, cause=envelope)
        log.info(
            "checkout started",
            user_id=command.user_id,
            pack_id=pack.id,
            session_id=session.session_id,
        )
        return Reply.ok(
            {"session_id": session.session_id, "checkout_url": session.url, "pack_id": pack.id}
        )

    async def apply_stripe_event(self, command: Message, envelope: Envelope) -> Reply:
        """Apply a verified Stripe event. ``applied`` is true when the event's effect is in
        the wallet (also for a copy whose effect was there already) and false when the
        event asks for nothing: an unknown type, a payment not (yet) made."""
        assert isinstance(command, ApplyStripeEvent)
        event_type = command.event_type
        if event_type in (CHECKOUT_COMPLETED, ASYNC_PAYMENT_SUCCEEDED):
            applied = await self._session_paid(command, envelope)
        elif event_type == ASYNC_PAYMENT_FAILED:
            log.info(
                "a delayed payment failed; nothing to credit",
                session_id=command.data_object.get("id"),
            )
            applied = False
        elif event_type == CHARGE_REFUNDED:
            applied = await self._charge_refunded(command, envelope)
        else:
            log.debug("ignoring a Stripe event", event_type=event_type)
            applied = False
        return Reply.ok({"applied": applied})

    async def _session_paid(self, command: ApplyStripeEvent, envelope: Envelope) -> bool:
        report = SessionReport.parse(command.event_type, command.data_object)
        if report is None:
            log.warning("a Stripe session event without a session id", event_id=command.event_id)
            return False
        if not report.paid:
            log.info(
                "checkout completed, payment still on its way",
                session_id=report.session_id,
                event_type=command.event_type,
            )
            return False
        payment = await self._payments.get_or_new(report.session_id)
        if payment.received is None:
            received = await self._resolve_payment(report)
            if received is None:
                log.error(
                    "a paid Checkout Session the wallet cannot attribute to a user and pack",
                    session_id=report.session_id,
                    event_id=command.event_id,
                )
                return False
            payment.receive(received)
            try:
                await self._payments.save(payment, cause=envelope)
            except ConcurrencyConflict:
                # Another copy of the news (the other event type, a redelivery, another
                # replica) recorded it first; its record stands.
                payment = await self._payments.get_or_new(report.session_id)
        received = payment.received
        assert received is not None
        payment_intent = received.payment_intent or report.payment_intent
        if payment_intent is not None:
            await self._read_models.link_payment_intent(
                payment_intent, received.session_id, received.user_id
            )
        # The payment's record first; a record from before the wallet kept the amount
        # leaves it to this event's report.
        if received.amount_total is not None:
            charge = Charge(received.amount_total, received.currency, payment_intent)
        else:
            charge = Charge(report.amount_total, report.currency, payment_intent)
        pack = self._settings.pack(received.pack_id)
        _, credited = await self._change(
            received.user_id,
            lambda account: account.purchase(
                received.session_id,
                received.pack_id,
                received.credits,
                charge,
                pack.name if pack is not None else None,
            ),
            cause=envelope,
        )
        if credited:
            log.info(
                "credits purchased",
                user_id=received.user_id,
                session_id=received.session_id,
                credits=received.credits,
            )
        return True

    async def _resolve_payment(self, report: SessionReport) -> PaymentReceived | None:
        """Who paid for what: the wallet's own checkout record, else the session's metadata."""
        checkout = await self._checkouts.get(report.session_id)
        if checkout is not None and checkout.started is not None:
            user_id = checkout.started.user_id
            pack_id = checkout.started.pack_id
            credits = checkout.started.credits
        else:
            pack = self._settings.pack(report.pack_id) if report.pack_id else None
            if report.user_id is None or pack is None:
                return None
            user_id, pack_id, credits = report.user_id, pack.id, pack.credits
        return PaymentReceived(
            session_id=report.session_id,
            user_id=user_id,
            pack_id=pack_id,
            credits=credits,
            payment_intent=report.payment_intent,
            amount_total=report.amount_total,
            currency=report.currency,
        )

    async def _charge_refunded(self, command: ApplyStripeEvent, envelope: Envelope) -> bool:
        report = RefundReport.parse(command.data_object)
        if report is None:
            log.warning("a charge.refunded event without its amounts", event_id=command.event_id)
            return False
        paid = await self._read_models.paid_session(report.payment_intent)
        if paid is None:
            log.warning(
                "a refund of a payment the wallet never credited",
                payment_intent=report.payment_intent,
                event_id=command.event_id,
            )
            return False
        session_id, user_id = paid
        _, taken = await self._change(
            user_id,
            lambda account: account.refund(
                session_id,
                report.refund_id,
                report.charged_cents,
                report.refunded_cents,
                report.currency,
            ),
            cause=envelope,
        )
        if taken:
            log.info(
                "credits refunded",
                user_id=user_id,
                session_id=session_id,
                refund_id=report.refund_id,
                credits=taken,
            )
        return True

    # The paid-vote saga, the wallet's side ---------------------------------------------

    async def vote_requested(self, event: Message, envelope: Envelope) -> None:
        assert isinstance(event, VoteRequested)
        expires_at = self._clock.now() + self._reservation_timeout
        # The row goes in before the reservation can exist: a release, which can only
        # follow the reservation, then always deletes it after, never before.
        await self._read_models.hold(
            event.vote_id, event.user_id, expires_at, envelope.correlation_id
        )
        account, _ = await self._change(
            event.user_id,
            lambda account: account.reserve(event.vote_id, event.voting_id, event.cost, expires_at),
            cause=envelope,
        )
        reservation = account.reservations[event.vote_id]
        if reservation.state != "reserved" or reservation.expires_at != expires_at:
            # Not reserved now, or reserved by an earlier copy of this request: the row
            # follows the account.
            await self._read_models.track(account, event.vote_id, envelope.correlation_id)
        log.info(
            "reservation decided",
            user_id=event.user_id,
            reservation_id=event.vote_id,
            state=reservation.state,
        )

    async def vote_cast(self, event: Message, envelope: Envelope) -> None:
        assert isinstance(event, VoteCast)
        if event.kind != "paid":
            return
        account, outcome = await self._change(
            event.user_id, lambda account: account.commit(event.vote_id), cause=envelope
        )
        match outcome:
            case "debited_after_release":
                log.error(
                    "a vote was cast after its reservation timed out; debited anyway",
                    user_id=event.user_id,
                    reservation_id=event.vote_id,
                    balance=account.balance,
                )
            case "not_reserved":
                log.error(
                    "a paid vote was cast without a credit reserved for it; nothing debited",
                    user_id=event.user_id,
                    reservation_id=event.vote_id,
                )
            case _:
                log.info("credits debited", user_id=event.user_id, reservation_id=event.vote_id)
        await self._read_models.forget(event.vote_id)

    async def vote_rejected(self, event: Message, envelope: Envelope) -> None:
        assert isinstance(event, VoteRejected)
        _, released = await self._change(
            event.user_id, lambda account: account.release(event.vote_id), cause=envelope
        )
        if released:
            log.info("reservation released", user_id=event.user_id, reservation_id=event.vote_id)
        await self._read_models.forget(event.vote_id)

    async def release_expired(self) -> int:
        """Release the reservations that outlived their timeout; how many this released.

        Several replicas may sweep at once: each release is an append at the account's
        version, so exactly one of them releases, and the others find it released.
        """
        now = self._clock.now()
        due = await self._read_models.expired(now, SWEEP_BATCH)
        gate = asyncio.Semaphore(SWEEP_CONCURRENCY)

        async def release(row: OpenReservation) -> bool:
            async with gate:
                account, released = await self._change(
                    row.user_id,
                    lambda account: account.expire(row.reservation_id, now),
                    correlation_id=row.correlation_id,
                )
                await self._read_models.track(account, row.reservation_id, row.correlation_id)
                if released:
                    log.info(
                        "reservation timed out; released",
                        user_id=row.user_id,
                        reservation_id=row.reservation_id,
                    )
                return released

        outcomes = await asyncio.gather(*(release(row) for row in due), return_exceptions=True)
        for row, outcome in zip(due, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                log.warning(
                    "could not release an expired reservation; retrying on the next sweep",
                    reservation_id=row.reservation_id,
                    error=repr(outcome),
                )
        return sum(1 for outcome in outcomes if outcome is True)
