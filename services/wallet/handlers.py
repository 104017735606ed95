"""The wallet's message handlers for accounts and credits, and for Stripe (the paid-vote
saga's steps are in :mod:`services.wallet.saga`).

Every change is an append at the account's version: two handlers deciding on one account
at once (two replicas, two copies of a message) cannot both win; the loser reloads and
decides again, and the account's state machine makes a repeated step a no-op. So the
event handlers need no message-id dedupe of their own.
"""

from __future__ import annotations

import contextlib

from contracts import Envelope, ErrorCode, Reply
from contracts.gateway import UserRegistered
from contracts.wallet import (
    ApplyStripeEvent,
    CreateCheckout,
    GetBalance,
    GrantCredits,
    ListCreditPacks,
)
from eventing.clock import Clock
from eventing.handlers import HandlerMap
from eventing.logs import get_logger
from eventing.repository import Repository
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
from services.wallet.store import Accounts, WalletReadModels
from services.wallet.stripe_reports import (
    ASYNC_PAYMENT_FAILED,
    ASYNC_PAYMENT_SUCCEEDED,
    CHARGE_REFUNDED,
    CHECKOUT_COMPLETED,
    RefundReport,
    SessionReport,
)

log = get_logger(__name__)


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

    def commands(self) -> HandlerMap[Reply]:
        return (
            HandlerMap[Reply]()
            .on(GetBalance, self.get_balance)
            .on(GrantCredits, self.grant_credits)
            .on(ListCreditPacks, self.list_credit_packs)
            .on(CreateCheckout, self.create_checkout)
            .on(ApplyStripeEvent, self.apply_stripe_event)
        )

    def events(self) -> HandlerMap[None]:
        return HandlerMap[None]().on(UserRegistered, self.user_registered)

    # Accounts -------------------------------------------------------------------------

    async def user_registered(self, event: UserRegistered, envelope: Envelope) -> None:
        account, _ = await self._accounts.decide(event.user_id, Account.open, cause=envelope)
        log.debug("account open", user_id=event.user_id, version=account.version)

    async def get_balance(self, query: GetBalance, _: Envelope) -> Reply:
        # A user the wallet has not heard of (yet) simply has no credits.
        account = await self._accounts.get_or_new(query.user_id)
        return Reply.ok(account.view())

    async def grant_credits(self, command: GrantCredits, envelope: Envelope) -> Reply:
        reason = command.reason.strip()
        if not reason:
            return Reply.fail(ErrorCode.VALIDATION_ERROR, "a grant needs a reason")

        def grant(account: Account) -> None:
            # A copy of a command the account already carried out grants nothing more.
            if envelope.message_id not in account.causes:
                account.grant(command.amount, reason, command.granted_by)

        account, _ = await self._accounts.decide(command.user_id, grant, cause=envelope)
        log.info(
            "credits granted",
            user_id=command.user_id,
            amount=command.amount,
            granted_by=command.granted_by,
        )
        return Reply.ok(account.view())

    # Credit packs and Stripe ----------------------------------------------------------

    async def list_credit_packs(self, _: ListCreditPacks, __: Envelope) -> Reply:
        return Reply.ok([pack.view() for pack in self._settings.credit_packs])

    async def create_checkout(self, command: CreateCheckout, envelope: Envelope) -> Reply:
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

    async def apply_stripe_event(self, command: ApplyStripeEvent, envelope: Envelope) -> Reply:
        """Apply a verified Stripe event. ``applied`` is true when the event's effect is in
        the wallet (also for a copy whose effect was there already) and false when the
        event asks for nothing: an unknown type, a payment not (yet) made."""
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
        _, credited = await self._accounts.decide(
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
        _, taken = await self._accounts.decide(
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
