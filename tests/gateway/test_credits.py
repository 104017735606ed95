"""Credit packs, buying credits with Stripe Checkout and the ledger, relayed to a wallet peer."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from contracts import ErrorCode, Message, Reply
from contracts.wallet import CreateCheckout, GetLedger, ListCreditPacks
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from tests.gateway.support import bearer, error_of, peer, running, user_token

PACKS = [
    {"id": "credits-5", "credits": 5, "price_cents": 500, "currency": "eur", "name": "5 credits"},
    {"id": "credits-20", "credits": 20, "price_cents": 1800, "currency": "eur", "name": "20"},
]


RECEIPT = "LV-20261121-P-7K2M9QX4TB3F"


def checkout(command: Message) -> Reply:
    assert isinstance(command, CreateCheckout)
    if command.pack_id not in {pack["id"] for pack in PACKS}:
        return Reply.fail(ErrorCode.NOT_FOUND, f"there is no credit pack {command.pack_id!r}")
    return Reply.ok(
        {
            "session_id": "cs_test_1",
            "checkout_url": "https://checkout.stripe.com/c/pay/cs_test_1",
            "pack_id": command.pack_id,
        }
    )


def ledger(query: Message) -> Reply:
    assert isinstance(query, GetLedger)
    return Reply.ok(
        {
            "user_id": query.user_id,
            "balance": 4,
            "reserved": 0,
            "available": 4,
            "entries": [
                {
                    "at": "2026-11-21T18:05:00+00:00",
                    "kind": "vote",
                    "amount": -1,
                    "reason": "Paid vote",
                    "reference": "v1",
                    "receipt_id": None,
                    "balance_after": 4,
                },
                {
                    "at": "2026-11-21T18:00:00+00:00",
                    "kind": "purchase",
                    "amount": 5,
                    "reason": "Bought 5 credits",
                    "reference": "cs_test_1",
                    "receipt_id": RECEIPT,
                    "balance_after": 5,
                },
            ],
        }
    )


def wallet_answers() -> dict[type[Message], Any]:
    return {
        ListCreditPacks: lambda _: Reply.ok(PACKS),
        CreateCheckout: checkout,
        GetLedger: ledger,
    }


async def test_credit_packs_are_shown_to_anyone(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    async with peer("wallet", gateway_settings, wallet_answers()):
        response = await client.get("/api/v1/credit-packs")

    assert response.status_code == 200, response.text
    assert response.json() == PACKS


async def test_checkout_starts_a_session_for_the_pack(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    user, access = await user_token(client)

    async with peer("wallet", gateway_settings, wallet_answers()) as wallet:
        response = await client.post(
            "/api/v1/me/credits/checkout",
            json={"pack_id": "credits-5"},
            headers={**bearer(access), "X-Correlation-ID": "buy-1"},
        )

    assert response.status_code == 201, response.text
    assert response.json()["checkout_url"] == "https://checkout.stripe.com/c/pay/cs_test_1"
    assert response.json()["session_id"] == "cs_test_1"
    [command] = wallet.received
    assert command.correlation_id == "buy-1"
    assert command.message() == CreateCheckout(
        user_id=user["id"],
        pack_id="credits-5",
        success_url="http://127.0.0.1:8000/credits/success?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="http://127.0.0.1:8000/credits/cancelled",
    )


async def test_checkout_returns_to_the_urls_from_the_settings(
    gateway_settings: GatewaySettings,
) -> None:
    settings = gateway_settings.model_copy(
        update={
            "checkout_success_url": "https://app.example.com/paid?s={CHECKOUT_SESSION_ID}",
            "checkout_cancel_url": "https://app.example.com/shop",
        }
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app), running(app) as client:
        _, access = await user_token(client)
        async with peer("wallet", settings, wallet_answers()) as wallet:
            response = await client.post(
                "/api/v1/me/credits/checkout", json={"pack_id": "credits-5"}, headers=bearer(access)
            )

    assert response.status_code == 201, response.text
    sent = wallet.received[0].message()
    assert isinstance(sent, CreateCheckout)
    assert sent.success_url == "https://app.example.com/paid?s={CHECKOUT_SESSION_ID}"
    assert sent.cancel_url == "https://app.example.com/shop"


async def test_checkout_settings_must_be_web_addresses() -> None:
    with pytest.raises(ValueError, match="URL"):
        GatewaySettings(checkout_success_url="not a url")  # type: ignore[arg-type]


async def test_checkout_of_an_unknown_pack_is_404(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    _, access = await user_token(client)

    async with peer("wallet", gateway_settings, wallet_answers()):
        response = await client.post(
            "/api/v1/me/credits/checkout", json={"pack_id": "credits-999"}, headers=bearer(access)
        )

    assert response.status_code == 404
    assert error_of(response)["code"] == "NOT_FOUND"


@pytest.mark.parametrize("body", [{}, {"pack_id": ""}, {"pack_id": 5}, {"pack": "credits-5"}])
async def test_a_bad_checkout_is_refused_at_the_gateway(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings, body: dict[str, Any]
) -> None:
    _, access = await user_token(client)

    async with peer("wallet", gateway_settings, wallet_answers()) as wallet:
        response = await client.post(
            "/api/v1/me/credits/checkout", json=body, headers=bearer(access)
        )

    assert response.status_code == 422
    assert error_of(response)["code"] == "VALIDATION_ERROR"
    assert wallet.received == []


async def test_a_checkout_retried_with_its_idempotency_key_is_the_same_command(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    _, access = await user_token(client)
    headers = {**bearer(access), "Idempotency-Key": "buy-once"}

    async with peer("wallet", gateway_settings, wallet_answers()) as wallet:
        statuses = [
            (
                await client.post(
                    "/api/v1/me/credits/checkout", json={"pack_id": pack_id}, headers=headers
                )
            ).status_code
            for pack_id in ("credits-5", "credits-5", "credits-20")
        ]

    # The key names the first request: another pack with it is refused, not bought.
    assert statuses == [201, 201, 409]
    first, retry = (e.message_id for e in wallet.received)
    assert first == retry


async def test_the_ledger_lists_every_change_newest_first(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    user, access = await user_token(client)

    async with peer("wallet", gateway_settings, wallet_answers()) as wallet:
        response = await client.get("/api/v1/me/credits/ledger", headers=bearer(access))

    assert response.status_code == 200, response.text
    expected = ledger(GetLedger(user_id=user["id"])).result
    assert isinstance(expected, dict)
    # The gateway links each receipt to where its PDF is downloaded.
    vote, purchase = expected["entries"]
    vote["receipt_url"] = None
    purchase["receipt_url"] = f"/api/v1/me/credits/receipts/{RECEIPT}"
    assert response.json() == expected
    assert wallet.received[0].message() == GetLedger(user_id=user["id"])


async def test_credits_need_a_token_except_the_packs(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/api/v1/me/credits/ledger"),
        await client.post("/api/v1/me/credits/checkout", json={"pack_id": "credits-5"}),
    ):
        assert response.status_code == 401
        assert error_of(response)["code"] == "UNAUTHENTICATED"


async def test_credits_are_503_while_the_wallet_does_not_answer(
    client: httpx.AsyncClient,
) -> None:
    _, access = await user_token(client)

    for response in (
        await client.get("/api/v1/credit-packs"),
        await client.get("/api/v1/me/credits/ledger", headers=bearer(access)),
        await client.post(
            "/api/v1/me/credits/checkout", json={"pack_id": "credits-5"}, headers=bearer(access)
        ),
    ):
        assert response.status_code == 503
        assert error_of(response)["details"] == {"service": "wallet"}
