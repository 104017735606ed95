"""Receipts as the wallet reads them out of an account: their numbers, what they hold,
and purchases and refunds recorded before the wallet kept what Stripe charged."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from contracts import Envelope, ErrorCode, Message
from contracts.wallet import (
    RECEIPT_NUMBER,
    AccountOpened,
    CreditsPurchased,
    CreditsRefunded,
    GetLedger,
    GetReceipt,
    Receipt,
)
from services.wallet.domain import Account, Charge, Checkout, CheckoutStarted
from services.wallet.statements import find_receipt, receipt_number
from services.wallet.stripe_reports import RefundReport, SessionReport
from tests.wallet.conftest import Wallets

BOUGHT_AT = datetime(2030, 5, 1, 23, 30, tzinfo=UTC)
REFUNDED_AT = BOUGHT_AT + timedelta(days=2)
NAMES = {"credits-5": "5 credits"}


def bought(session_id: str = "cs_1") -> CreditsPurchased:
    return CreditsPurchased(
        user_id="ada",
        amount=5,
        pack_id="credits-5",
        session_id=session_id,
        pack_name="Five",
        charged_cents=500,
        currency="eur",
        payment_intent="pi_1",
    )


def refunded(refund_id: str = "re_1") -> CreditsRefunded:
    return CreditsRefunded(
        user_id="ada",
        amount=2,
        session_id="cs_1",
        refund_id=refund_id,
        refunded_cents=250,
        currency="eur",
    )


def test_a_receipt_number_names_the_day_and_the_kind_and_never_changes() -> None:
    number = receipt_number(bought(), BOUGHT_AT)
    assert re.fullmatch(RECEIPT_NUMBER, number)
    assert number.startswith("LV-20300501-P-")
    # The day is UTC's, wherever the time was written.
    in_tokyo = BOUGHT_AT.astimezone(timezone(timedelta(hours=9)))
    assert receipt_number(bought(), in_tokyo) == number
    assert receipt_number(refunded(), REFUNDED_AT).startswith("LV-20300503-R-")

    numbers = {
        number,
        receipt_number(bought("cs_2"), BOUGHT_AT),
        receipt_number(refunded("re_1"), BOUGHT_AT),
        receipt_number(refunded("re_2"), BOUGHT_AT),
    }
    assert len(numbers) == 4


def test_a_receipt_is_found_by_its_number_with_the_purchase_it_concerns() -> None:
    history: list[tuple[Message, datetime]] = [
        (AccountOpened(user_id="ada"), BOUGHT_AT),
        (bought(), BOUGHT_AT),
        (refunded(), REFUNDED_AT),
    ]
    purchase_number = receipt_number(bought(), BOUGHT_AT)
    purchase = find_receipt(history, purchase_number, NAMES)
    assert purchase is not None and purchase.kind == "purchase" and purchase.refund is None
    assert (purchase.issued_at, purchase.user_id) == (BOUGHT_AT, "ada")
    on_it = purchase.purchase
    assert (on_it.receipt_id, on_it.pack_name, on_it.credits) == (purchase_number, "Five", 5)
    assert (on_it.charged_cents, on_it.currency) == (500, "eur")
    assert (on_it.session_id, on_it.payment_intent) == ("cs_1", "pi_1")

    refund = find_receipt(history, receipt_number(refunded(), REFUNDED_AT), NAMES)
    assert refund is not None and refund.kind == "refund" and refund.issued_at == REFUNDED_AT
    assert refund.purchase == on_it
    assert refund.refund is not None
    assert (refund.refund.refund_id, refund.refund.credits_taken_back) == ("re_1", 2)
    assert (refund.refund.refunded_cents, refund.refund.currency) == (250, "eur")

    assert find_receipt(history, "LV-20300501-P-AAAAAAAAAAAA", NAMES) is None


def test_a_refund_records_the_money_it_gave_back() -> None:
    account = Account("ada")
    account.purchase("cs_1", "credits-5", 5, Charge(500, "eur", "pi_1"), "5 credits")
    # 50 cents take back no credit: counted with the next refund that does.
    assert account.refund("cs_1", "re_1", 500, 50, "eur") == 0
    assert account.refund("cs_1", "re_2", 500, 250, "eur") == 2
    assert account.refund("cs_1", "re_3", 500, 500, "eur") == 3
    refunds = [e for e in account.pending if isinstance(e, CreditsRefunded)]
    assert [(r.refund_id, r.amount, r.refunded_cents) for r in refunds] == [
        ("re_2", 2, 250),
        ("re_3", 3, 250),
    ]
    assert account.purchases["cs_1"].refunded_cents == 500


def test_stripe_reports_carry_the_amounts_and_the_currency() -> None:
    session = {"id": "cs_1", "payment_status": "paid", "amount_total": 900, "currency": "EUR"}
    report = SessionReport.parse("checkout.session.completed", session)
    assert report is not None and (report.amount_total, report.currency) == (900, "eur")
    odd = session | {"amount_total": "900", "currency": "euro"}
    report = SessionReport.parse("checkout.session.completed", odd)
    assert report is not None and (report.amount_total, report.currency) == (None, None)

    charge = {"payment_intent": "pi_1", "amount": 900, "amount_refunded": 450, "currency": "eur"}
    assert RefundReport.parse(charge) == RefundReport("pi_1", "pi_1:450", 900, 450, "eur")


def test_a_receipt_query_takes_only_a_receipt_number() -> None:
    with pytest.raises(ValidationError):
        GetReceipt(user_id="ada", receipt_id="cs_1")


async def test_receipts_of_events_recorded_before_the_wallet_kept_what_stripe_charged(
    wallets: Wallets,
) -> None:
    """Version 1 events, as stored then: no amounts. The purchase's checkout record
    still tells the price asked; the refund's money is not known."""
    store = wallets.wallet.store
    started = CheckoutStarted(
        session_id="cs_old",
        user_id="grace",
        pack_id="credits-5",
        credits=5,
        price_cents=500,
        currency="eur",
    )
    await store.append(Checkout.stream_name("cs_old"), 0, [Envelope.wrap(started)])

    def version_1(message_type: str, at: datetime, **payload: object) -> Envelope:
        return Envelope(
            type=message_type,
            schema_version=1,
            occurred_at=at,
            correlation_id="old",
            payload={"user_id": "grace", "session_id": "cs_old", **payload},
        )

    old_purchase = version_1("wallet.CreditsPurchased", BOUGHT_AT, amount=5, pack_id="credits-5")
    old_refund = version_1("wallet.CreditsRefunded", REFUNDED_AT, amount=5, refund_id="re_old")
    opened = Envelope.wrap(AccountOpened(user_id="grace"), occurred_at=BOUGHT_AT)
    await store.append(Account.stream_name("grace"), 0, [opened, old_purchase, old_refund])

    ledger = await wallets.ok(GetLedger(user_id="grace"))
    refund_number, purchase_number = (entry["receipt_id"] for entry in ledger["entries"])
    loaded = old_purchase.message()
    assert isinstance(loaded, CreditsPurchased) and loaded.charged_cents is None
    assert purchase_number == receipt_number(loaded, BOUGHT_AT)

    purchase = Receipt.model_validate(
        await wallets.ok(GetReceipt(user_id="grace", receipt_id=purchase_number))
    )
    assert purchase.purchase.pack_name == "5 credits"  # the pack's name today
    assert (purchase.purchase.charged_cents, purchase.purchase.currency) == (500, "eur")
    assert purchase.purchase.payment_intent is None

    refund = Receipt.model_validate(
        await wallets.ok(GetReceipt(user_id="grace", receipt_id=refund_number))
    )
    assert refund.refund is not None
    assert (refund.refund.refunded_cents, refund.refund.currency) == (None, "eur")
    assert refund.refund.credits_taken_back == 5

    # Only the account's own receipts.
    elsewhere = await wallets.ask(GetReceipt(user_id="ada", receipt_id=purchase_number))
    assert elsewhere.error is not None and elsewhere.error.code == ErrorCode.NOT_FOUND
