"""Stripe's webhook: the real signature check on the raw body, then the wallet."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest
import stripe

from contracts import ErrorCode, Message, Reply
from contracts.wallet import ApplyStripeEvent
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from tests.gateway.support import WEBHOOK_SECRET, error_of, peer, running

WEBHOOK = "/api/v1/stripe/webhook"


def stripe_event(event_id: str = "evt_1") -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2025-06-30.basil",
        "created": 1_790_000_000,
        "livemode": False,
        "type": "checkout.session.completed",
        "data": {
            "object": {
                "id": "cs_test_1",
                "object": "checkout.session",
                "amount_total": 500,
                "client_reference_id": "user-1",
                "metadata": {"user_id": "user-1", "pack_id": "credits-5"},
                "payment_status": "paid",
                "total_details": {"amount_discount": 0, "amount_tax": 0},
            }
        },
    }


def signed(payload: str, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    """The Stripe-Signature header Stripe would send: t=<time>,v1=HMAC-SHA256(t.payload)."""
    timestamp = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def applied(command: Message) -> Reply:
    assert isinstance(command, ApplyStripeEvent)
    return Reply.ok({"applied": True})


async def post(client: httpx.AsyncClient, payload: str, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return await client.post(WEBHOOK, content=payload.encode(), headers=headers)


async def test_a_signed_event_is_handed_to_the_wallet_as_received(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    # Spacing and key order as Stripe's own, not as json.dumps would write them.
    payload = json.dumps(stripe_event(), indent=2)

    async with peer("wallet", gateway_settings, {ApplyStripeEvent: applied}) as wallet:
        response = await post(client, payload, signed(payload))

    assert response.status_code == 200, response.text
    assert response.json() == {"received": True}
    [command] = wallet.received
    assert command.message() == ApplyStripeEvent(
        event_id="evt_1",
        event_type="checkout.session.completed",
        created=1_790_000_000,
        data_object=stripe_event()["data"]["object"],
    )


async def test_the_stripe_library_signature_is_accepted(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    payload = json.dumps(stripe_event("evt_lib"))
    header = stripe.WebhookSignature.generate_signature_header(payload, WEBHOOK_SECRET)

    async with peer("wallet", gateway_settings, {ApplyStripeEvent: applied}) as wallet:
        response = await post(client, payload, header)

    assert response.status_code == 200, response.text
    assert [e.message().event_id for e in wallet.received] == ["evt_lib"]  # type: ignore[attr-defined]


async def test_every_delivery_of_one_event_is_the_same_command(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    first, other = json.dumps(stripe_event("evt_1")), json.dumps(stripe_event("evt_2"))

    async with peer("wallet", gateway_settings, {ApplyStripeEvent: applied}) as wallet:
        for payload in (first, first, other):
            response = await post(client, payload, signed(payload))
            assert response.status_code == 200

    once, again, another = (e.message_id for e in wallet.received)
    assert once == again != another


def _tampered(payload: str) -> str:
    return payload.replace('"amount_total": 500', '"amount_total": 50000')


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(lambda p: None, id="missing"),
        pytest.param(lambda p: "", id="empty"),
        pytest.param(lambda p: signed(p, secret="whsec_someone_else"), id="forged"),
        pytest.param(lambda p: signed(_tampered(p)), id="for-another-body"),
        pytest.param(lambda p: signed(p, at=int(time.time()) - 3600), id="stale"),
        pytest.param(lambda p: signed(p, at=int(time.time()) + 3600), id="from-the-future"),
        pytest.param(lambda p: signed(p).split(",")[0], id="no-v1"),
        pytest.param(lambda p: "garbage", id="garbage"),
    ],
)
async def test_an_event_that_does_not_verify_is_400_and_goes_nowhere(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings, signature: Any
) -> None:
    payload = json.dumps(stripe_event())

    async with peer("wallet", gateway_settings, {ApplyStripeEvent: applied}) as wallet:
        response = await post(client, payload, signature(payload))

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "VALIDATION_ERROR"
    assert "Stripe-Signature" in error["message"]
    assert WEBHOOK_SECRET not in response.text
    assert wallet.received == []


async def test_a_tampered_body_with_the_original_signature_is_refused(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    payload = json.dumps(stripe_event())

    async with peer("wallet", gateway_settings, {ApplyStripeEvent: applied}) as wallet:
        response = await post(client, _tampered(payload), signed(payload))

    assert response.status_code == 400
    assert wallet.received == []


@pytest.mark.parametrize(
    "payload",
    ['{"id": "evt_1", "type": "x"', '{"id": "evt_1", "object": "event"}', "[]"],
    ids=["not-json", "no-data", "not-an-object"],
)
async def test_a_signed_body_that_is_not_an_event_is_400(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings, payload: str
) -> None:
    async with peer("wallet", gateway_settings, {ApplyStripeEvent: applied}) as wallet:
        response = await post(client, payload, signed(payload))

    assert response.status_code == 400
    assert error_of(response)["code"] == "VALIDATION_ERROR"
    assert wallet.received == []


async def test_a_signed_event_is_503_while_the_wallet_does_not_answer(
    client: httpx.AsyncClient,
) -> None:
    payload = json.dumps(stripe_event())

    response = await post(client, payload, signed(payload))

    # Stripe retries what it does not see a 2xx for.
    assert response.status_code == 503
    assert error_of(response)["details"] == {"service": "wallet"}


async def test_the_wallet_failing_an_event_is_not_a_2xx(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    payload = json.dumps(stripe_event())
    failing = {ApplyStripeEvent: lambda _: Reply.fail(ErrorCode.INTERNAL_ERROR, "try again")}

    async with peer("wallet", gateway_settings, failing):
        response = await post(client, payload, signed(payload))

    assert response.status_code == 500


async def test_without_a_webhook_secret_events_are_503_so_stripe_retries(
    gateway_settings: GatewaySettings,
) -> None:
    settings = gateway_settings.model_copy(update={"stripe_webhook_secret": None})
    payload = json.dumps(stripe_event())
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        running(app) as client,
        peer("wallet", settings, {ApplyStripeEvent: applied}) as wallet,
    ):
        response = await post(client, payload, signed(payload))

    assert response.status_code == 503
    assert error_of(response)["code"] == "SERVICE_UNAVAILABLE"
    assert wallet.received == []


async def test_the_webhook_needs_no_access_token_and_is_documented(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()

    webhook = spec["paths"][WEBHOOK]["post"]
    assert "security" not in webhook
    assert {"200", "400", "503"} <= set(webhook["responses"])
    assert "application/json" in webhook["requestBody"]["content"]
