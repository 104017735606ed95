"""Receipts of credit purchases and refunds: Stripe's signed events through the webhook to
a real wallet, the ledger's links to the receipts, and each receipt's PDF as its buyer
downloads it (its text read back with pypdf; its first page kept as a PNG in
test-output/receipts/ for a person to look at)."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from contracts.wallet import RECEIPT_NUMBER
from eventing.settings import RuntimeSettings
from scripts.stripe_events import delivery, paid_checkout, refunded_charge
from services.wallet.service import WalletService
from tests.gateway.support import WEBHOOK_SECRET, admin_token, bearer, error_of, user_token
from tests.support import eventually, keep_pdf, pdf_text
from tests.wallet.conftest import wallet_settings

API = "/api/v1"


@pytest.fixture
async def wallet(settings: RuntimeSettings) -> AsyncIterator[WalletService]:
    service = WalletService(wallet_settings(settings))
    await service.start()
    yield service
    await service.stop()


async def stripe_reports(client: httpx.AsyncClient, event: dict[str, Any]) -> None:
    body, headers = delivery(event, WEBHOOK_SECRET)
    answer = await client.post(f"{API}/stripe/webhook", content=body, headers=headers)
    assert answer.status_code == 200, answer.text


async def ledger_line(client: httpx.AsyncClient, token: str, kind: str) -> dict[str, Any]:
    """The newest ledger entry of this kind, once there is one."""

    async def newest() -> dict[str, Any] | None:
        answer = await client.get(f"{API}/me/credits/ledger", headers=bearer(token))
        assert answer.status_code == 200, answer.text
        return next((e for e in answer.json()["entries"] if e["kind"] == kind), None)

    return await eventually(newest)


async def download(client: httpx.AsyncClient, token: str, entry: dict[str, Any]) -> bytes:
    """The entry's receipt, downloaded from the link the ledger gives."""
    assert re.fullmatch(RECEIPT_NUMBER, entry["receipt_id"]), entry
    assert entry["receipt_url"] == f"{API}/me/credits/receipts/{entry['receipt_id']}"
    answer = await client.get(entry["receipt_url"], headers=bearer(token))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="livevote-{entry["receipt_id"]}.pdf"'
    )
    assert answer.content.startswith(b"%PDF-")
    return answer.content


def shown_time(entry: dict[str, Any]) -> str:
    """The entry's time as a receipt writes it."""
    at = datetime.fromisoformat(entry["at"]).astimezone(UTC)
    return f"{at.day} {at:%B %Y, %H:%M} UTC"


def assert_shows(text: str, *expected: str) -> None:
    missing = [value for value in expected if value not in text]
    assert not missing, f"the receipt does not show {missing}:\n{text}"


async def test_a_purchase_and_its_refund_each_have_a_receipt_of_what_stripe_charged_and_gave_back(
    client: httpx.AsyncClient, wallet: WalletService
) -> None:
    buyer, token = await user_token(client)
    started = await client.post(
        f"{API}/me/credits/checkout", headers=bearer(token), json={"pack_id": "credits-10"}
    )
    assert started.status_code == 201, started.text
    session_id = started.json()["session_id"]
    payment_intent = f"pi_{uuid.uuid4().hex[:24]}"
    await stripe_reports(
        client,
        paid_checkout(
            session_id, buyer["id"], "credits-10", amount_total=900, payment_intent=payment_intent
        ),
    )

    purchase = await ledger_line(client, token, "purchase")
    receipt = await download(client, token, purchase)
    text = pdf_text(receipt)
    assert_shows(
        text,
        "livevote",
        "Receipt",
        purchase["receipt_id"],
        shown_time(purchase),
        buyer["email"],
        "10 credits",
        "EUR 9.00",
        payment_intent,
        session_id,
    )
    assert "Refund" not in text
    keep_pdf(receipt, "receipts/purchase")

    # Stripe refunds half: half the pack's credits are taken back.
    refund_id = f"re_{uuid.uuid4().hex[:24]}"
    await stripe_reports(
        client,
        refunded_charge(payment_intent, amount=900, amount_refunded=450, refund_id=refund_id),
    )
    refund = await ledger_line(client, token, "refund")
    assert refund["receipt_id"] != purchase["receipt_id"]
    refund_receipt = await download(client, token, refund)
    assert_shows(
        pdf_text(refund_receipt),
        "livevote",
        "Refund receipt",
        refund["receipt_id"],
        shown_time(refund),
        buyer["email"],
        "EUR 4.50",
        refund_id,
        "Credits taken back 5 credits",
        # The purchase it refunds.
        purchase["receipt_id"],
        "10 credits",
        "EUR 9.00",
        payment_intent,
    )
    keep_pdf(refund_receipt, "receipts/refund")

    # A receipt keeps its number: the same links, the same receipt.
    assert await ledger_line(client, token, "purchase") == purchase
    assert pdf_text(await download(client, token, purchase)) == text


async def test_a_receipt_is_its_buyers_alone_and_only_purchases_and_refunds_have_one(
    client: httpx.AsyncClient, wallet: WalletService
) -> None:
    buyer, token = await user_token(client)
    await stripe_reports(
        client, paid_checkout(f"cs_test_{uuid.uuid4().hex}", buyer["id"], "credits-5")
    )
    url = (await ledger_line(client, token, "purchase"))["receipt_url"]

    _, someone_else = await user_token(client)
    answer = await client.get(url, headers=bearer(someone_else))
    assert answer.status_code == 404
    assert error_of(answer)["code"] == "NOT_FOUND"

    for unknown in ("LV-20260101-P-AAAAAAAAAAAA", "LV-20260101-X-AAAAAAAAAAAA", "cs_test_1"):
        answer = await client.get(f"{API}/me/credits/receipts/{unknown}", headers=bearer(token))
        assert answer.status_code == 404, unknown
        assert error_of(answer)["code"] == "NOT_FOUND"

    answer = await client.get(url)
    assert answer.status_code == 401
    assert error_of(answer)["code"] == "UNAUTHENTICATED"

    granted = await client.post(
        f"{API}/admin/users/{buyer['id']}/credits",
        headers=bearer(await admin_token(client)),
        json={"amount": 2, "reason": "goodwill"},
    )
    assert granted.status_code == 201, granted.text
    grant = await ledger_line(client, token, "grant")
    assert (grant["receipt_id"], grant["receipt_url"]) == (None, None)
