"""Credit packs, Stripe Checkout against stripe-mock, and Stripe's events as the gateway
hands them over after checking their signature: credits once per paid session, whatever
the order and however often; refunds taken back once."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from contracts import Envelope, ErrorCode, Reply
from contracts.wallet import (
    ApplyStripeEvent,
    CreateCheckout,
    CreditsPurchased,
    CreditsRefunded,
    GetBalance,
    GetLedger,
    ListCreditPacks,
)
from eventing.service import ServiceRuntime
from eventing.settings import RuntimeSettings
from services.wallet.domain import Checkout, CheckoutStarted, Payment
from services.wallet.service import WalletService
from services.wallet.settings import DEFAULT_CREDIT_PACKS, CreditPack, WalletSettings
from tests.support import count_commits, eventually
from tests.wallet.conftest import Wallets, wallet_settings
from tests.wallet.votes import cast, request

PURCHASED = "wallet.CreditsPurchased"
REFUNDED = "wallet.CreditsRefunded"
COMPLETED = "checkout.session.completed"
SUCCEEDED = "checkout.session.async_payment_succeeded"
FAILED = "checkout.session.async_payment_failed"


async def checkout(wallets: Wallets, user_id: str, pack_id: str = "credits-5") -> dict[str, Any]:
    result: dict[str, Any] = await wallets.ok(
        CreateCheckout(
            user_id=user_id,
            pack_id=pack_id,
            success_url="https://app.livevote.dev/credits/thanks",
            cancel_url="https://app.livevote.dev/credits",
        )
    )
    return result


def session(
    session_id: str,
    *,
    payment_status: str = "paid",
    payment_intent: str | None = None,
    metadata: dict[str, str] | None = None,
    amount_total: int = 500,
) -> dict[str, Any]:
    """A Checkout Session as Stripe's events carry it."""
    return {
        "id": session_id,
        "object": "checkout.session",
        "mode": "payment",
        "amount_total": amount_total,
        "currency": "eur",
        "payment_status": payment_status,
        "payment_intent": payment_intent or f"pi_{session_id}",
        "client_reference_id": (metadata or {}).get("user_id"),
        "metadata": metadata or {},
    }


def charge(
    payment_intent: str, refunded: int, refund_ids: list[str], amount: int = 500
) -> dict[str, Any]:
    return {
        "id": f"ch_{payment_intent}",
        "object": "charge",
        "payment_intent": payment_intent,
        "amount": amount,
        "amount_refunded": refunded,
        "currency": "eur",
        "refunded": refunded >= amount,
        "refunds": {
            "object": "list",
            "data": [{"id": r, "object": "refund", "status": "succeeded"} for r in refund_ids],
        },
    }


async def stripe_event(wallets: Wallets, event_type: str, data_object: dict[str, Any]) -> Reply:
    return await wallets.ask(
        ApplyStripeEvent(
            event_id=f"evt_{uuid.uuid4().hex[:16]}",
            event_type=event_type,
            created=1_900_000_000,
            data_object=data_object,
        )
    )


async def applied(wallets: Wallets, event_type: str, data_object: dict[str, Any]) -> bool:
    reply = await stripe_event(wallets, event_type, data_object)
    assert reply.error is None, reply.error
    assert isinstance(reply.result, dict)
    return bool(reply.result["applied"])


async def balance(wallets: Wallets, user_id: str) -> int:
    return int((await wallets.ok(GetBalance(user_id=user_id)))["balance"])


async def test_credit_packs_come_from_the_settings(wallets: Wallets) -> None:
    packs = await wallets.ok(ListCreditPacks())
    assert packs == [pack.model_dump() for pack in DEFAULT_CREDIT_PACKS]
    assert [p["credits"] for p in packs] == [5, 10, 25]
    assert {p["currency"] for p in packs} == {"eur"}


def test_credit_packs_are_read_as_json_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mega = {"id": "mega", "credits": 100, "price_cents": 7000, "currency": "usd", "name": "Mega"}
    monkeypatch.setenv("LIVEVOTE_CREDIT_PACKS", json.dumps([mega]))
    settings = WalletSettings()
    assert settings.credit_packs == [CreditPack.model_validate(mega)]
    assert settings.pack("mega") is not None and settings.pack("credits-5") is None

    monkeypatch.setenv("LIVEVOTE_CREDIT_PACKS", json.dumps([mega, mega]))
    with pytest.raises(ValidationError, match="two packs with one id"):
        WalletSettings()
    monkeypatch.setenv("LIVEVOTE_CREDIT_PACKS", "[]")
    with pytest.raises(ValidationError):
        WalletSettings()


async def test_a_checkout_asks_stripe_for_a_session_and_records_it(wallets: Wallets) -> None:
    started = await checkout(wallets, "ada", "credits-10")
    session_id = started["session_id"]
    assert session_id.startswith("cs_")
    assert started["checkout_url"].startswith("https://")
    assert started["pack_id"] == "credits-10"

    # What the wallet sent to Stripe.
    sent = [r for r in wallets.stripe_http[0].sent if r.url.endswith("/v1/checkout/sessions")]
    assert len(sent) == 1 and sent[0].method == "post"
    form = sent[0].form
    assert form["mode"] == "payment"
    assert form["line_items[0][quantity]"] == "1"
    assert form["line_items[0][price_data][currency]"] == "eur"
    assert form["line_items[0][price_data][unit_amount]"] == "900"
    assert form["line_items[0][price_data][product_data][name]"] == "10 credits"
    assert form["client_reference_id"] == "ada"
    assert form["metadata[user_id]"] == "ada"
    assert form["metadata[pack_id]"] == "credits-10"
    assert form["success_url"] == "https://app.livevote.dev/credits/thanks"
    assert form["cancel_url"] == "https://app.livevote.dev/credits"
    # Stripe picks the methods (cards, PayPal where it can); none are forced.
    assert not any(key.startswith("payment_method_types") for key in form)
    assert any(k.lower() == "idempotency-key" for k in sent[0].headers)

    # What the wallet recorded: whose session it is, and for which pack.
    recorded = await wallets.wallet.store.read(Checkout.stream_name(session_id))
    assert [e.message() for e in recorded] == [
        CheckoutStarted(
            session_id=session_id,
            user_id="ada",
            pack_id="credits-10",
            credits=10,
            price_cents=900,
            currency="eur",
        )
    ]
    assert not recorded[0].is_public  # never leaves the wallet


async def test_a_checkout_for_an_unknown_pack_is_not_found(wallets: Wallets) -> None:
    reply = await wallets.ask(
        CreateCheckout(
            user_id="ada", pack_id="gold", success_url="https://a.b/s", cancel_url="https://a.b/c"
        )
    )
    assert reply.error is not None and reply.error.code == ErrorCode.NOT_FOUND
    assert wallets.stripe_http[0].sent == []


async def test_stripe_out_of_reach_answers_service_unavailable(
    settings: RuntimeSettings, gateway: ServiceRuntime
) -> None:
    unreachable = wallet_settings(
        settings, stripe_api_base="http://127.0.0.1:9", stripe_timeout_seconds=1
    )
    wallet = WalletService(unreachable)
    await wallet.start()
    try:
        command = CreateCheckout(
            user_id="ada",
            pack_id="credits-5",
            success_url="https://a.b/s",
            cancel_url="https://a.b/c",
        )
        reply = await gateway.bus.request("wallet", Envelope.wrap(command), timeout=30)
        assert reply.error is not None and reply.error.code == ErrorCode.SERVICE_UNAVAILABLE
        assert await count_commits(wallet.db, {}) == 0
    finally:
        await wallet.stop()


async def test_a_completed_session_delivered_many_times_credits_once(wallets: Wallets) -> None:
    await wallets.start()  # copies handled concurrently by two replicas
    started = await checkout(wallets, "ada")
    completed = session(started["session_id"])  # no metadata: the wallet's record decides
    replies = await asyncio.gather(*(applied(wallets, COMPLETED, completed) for _ in range(6)))
    assert all(replies)
    assert await balance(wallets, "ada") == 5
    assert (await wallets.types("ada")).count(PURCHASED) == 1
    # With what Stripe charged, as its event says.
    assert (await wallets.events("ada"))[-1] == CreditsPurchased(
        user_id="ada",
        amount=5,
        pack_id="credits-5",
        session_id=started["session_id"],
        pack_name="5 credits",
        charged_cents=500,
        currency="eur",
        payment_intent=f"pi_{started['session_id']}",
    )
    payment = await wallets.wallet.store.read(Payment.stream_name(started["session_id"]))
    assert len(payment) == 1

    ledger = await wallets.ok(GetLedger(user_id="ada"))
    (entry,) = ledger["entries"]
    assert (entry["kind"], entry["amount"], entry["reference"]) == (
        "purchase",
        5,
        started["session_id"],
    )
    assert "5 credits" in entry["reason"]


async def test_async_success_before_completion_credits_once(wallets: Wallets) -> None:
    started = await checkout(wallets, "ada", "credits-25")
    session_id = started["session_id"]
    assert await applied(wallets, SUCCEEDED, session(session_id))
    assert await applied(wallets, COMPLETED, session(session_id))
    assert await applied(wallets, SUCCEEDED, session(session_id))
    assert await balance(wallets, "ada") == 25
    assert (await wallets.types("ada")).count(PURCHASED) == 1


async def test_an_unpaid_completion_waits_for_the_delayed_payment(wallets: Wallets) -> None:
    paid_later, never_paid = await checkout(wallets, "ada"), await checkout(wallets, "ada")

    unpaid = session(paid_later["session_id"], payment_status="unpaid")
    assert not await applied(wallets, COMPLETED, unpaid)
    assert await balance(wallets, "ada") == 0
    assert await wallets.types("ada") == []

    assert await applied(wallets, SUCCEEDED, session(paid_later["session_id"]))
    assert await balance(wallets, "ada") == 5

    other = session(never_paid["session_id"], payment_status="unpaid")
    assert not await applied(wallets, COMPLETED, other)
    assert not await applied(wallets, FAILED, other)
    assert await balance(wallets, "ada") == 5
    assert (await wallets.types("ada")).count(PURCHASED) == 1


async def test_a_session_the_wallet_has_no_record_of_is_credited_from_its_metadata(
    wallets: Wallets,
) -> None:
    metadata = {"user_id": "grace", "pack_id": "credits-10"}
    assert await applied(wallets, COMPLETED, session("cs_elsewhere", metadata=metadata))
    assert await balance(wallets, "grace") == 10
    # Nothing to go by: nothing credited.
    assert not await applied(wallets, COMPLETED, session("cs_unknown"))
    unknown_pack = {"user_id": "grace", "pack_id": "gold"}
    assert not await applied(wallets, COMPLETED, session("cs_gold", metadata=unknown_pack))
    assert await balance(wallets, "grace") == 10


async def test_refunds_take_credits_back_once(wallets: Wallets) -> None:
    started = await checkout(wallets, "ada")  # 5 credits for 500 cents
    paid = session(started["session_id"], payment_intent="pi_ada")
    assert await applied(wallets, COMPLETED, paid)

    # A partial refund (half: floor(2.5) credits), delivered twice.
    half = charge("pi_ada", 250, ["re_1"])
    assert await applied(wallets, "charge.refunded", half)
    assert await applied(wallets, "charge.refunded", half)
    assert await balance(wallets, "ada") == 3

    # The rest refunded: the rest of the pack; copies and a stale event change nothing.
    full = charge("pi_ada", 500, ["re_2", "re_1"])
    await asyncio.gather(*(applied(wallets, "charge.refunded", full) for _ in range(3)))
    assert await applied(wallets, "charge.refunded", half)
    assert await balance(wallets, "ada") == 0

    refunds = [e for e in await wallets.events("ada") if isinstance(e, CreditsRefunded)]
    assert [(r.amount, r.refund_id, r.refunded_cents, r.currency) for r in refunds] == [
        (2, "re_1", 250, "eur"),
        (3, "re_2", 250, "eur"),
    ]
    ledger = await wallets.ok(GetLedger(user_id="ada"))
    assert [(e["kind"], e["amount"]) for e in ledger["entries"]] == [
        ("refund", -3),
        ("refund", -2),
        ("purchase", 5),
    ]


async def test_a_full_refund_takes_the_pack_back_even_when_spent(wallets: Wallets) -> None:
    started = await checkout(wallets, "ada", "credits-10")
    await applied(wallets, SUCCEEDED, session(started["session_id"], payment_intent="pi_full"))
    assert await balance(wallets, "ada") == 10
    spent = request("ada")
    await wallets.publish(spent)
    await eventually(wallets.until("ada", lambda types: "wallet.CreditsReserved" in types))
    await wallets.publish(cast(spent))
    await eventually(wallets.until("ada", lambda types: "wallet.CreditsDebited" in types))

    # A charge whose refunds are not embedded (newer API versions): the total tells.
    whole = charge("pi_full", 900, [], amount=900) | {"refunds": None}
    assert await applied(wallets, "charge.refunded", whole)
    assert await applied(wallets, "charge.refunded", whole)
    assert (await wallets.types("ada")).count(REFUNDED) == 1
    # The credit spent on the vote is owed now.
    assert await wallets.ok(GetBalance(user_id="ada")) == {
        "user_id": "ada",
        "balance": -1,
        "reserved": 0,
        "available": 0,
    }

    # A refund of a payment the wallet never credited changes nothing.
    assert not await applied(wallets, "charge.refunded", charge("pi_other", 500, ["re_9"]))


async def test_an_unknown_event_type_changes_nothing(wallets: Wallets) -> None:
    started = await checkout(wallets, "ada")
    for event_type in ("customer.created", "payment_intent.succeeded", "checkout.session.expired"):
        assert not await applied(wallets, event_type, session(started["session_id"]))
    assert await balance(wallets, "ada") == 0
    assert await wallets.types("ada") == []
    assert await wallets.wallet.store.read(Payment.stream_name(started["session_id"])) == []
