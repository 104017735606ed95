"""Stripe Checkout: the one call the wallet makes to Stripe, through stripe-python's
async client (httpx), so a slow Stripe never blocks the event loop."""

from __future__ import annotations

from dataclasses import dataclass

import stripe
from stripe.params.checkout import SessionCreateParams

from services.wallet.settings import CreditPack, WalletSettings


@dataclass(frozen=True)
class CreatedSession:
    session_id: str
    url: str


class StripeUnavailable(Exception):
    """Stripe refused or did not answer; nothing was bought."""


class StripeCheckout:
    def __init__(
        self, settings: WalletSettings, http_client: stripe.HTTPClient | None = None
    ) -> None:
        self._http = http_client or stripe.HTTPXClient(timeout=settings.stripe_timeout_seconds)
        self._client = stripe.StripeClient(
            settings.stripe_api_key.get_secret_value(),
            base_addresses={"api": settings.stripe_api_base},
            http_client=self._http,
            # Safe to retry: every create carries an idempotency key.
            max_network_retries=2,
        )

    async def create_session(
        self,
        *,
        user_id: str,
        pack: CreditPack,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> CreatedSession:
        """A Checkout Session in payment mode for one pack.

        No ``payment_method_types``: Stripe then offers the methods enabled in the
        dashboard that fit the currency and the buyer (cards, PayPal where it can).
        """
        params: SessionCreateParams = {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": pack.currency,
                        "unit_amount": pack.price_cents,
                        "product_data": {"name": pack.name},
                    },
                    "quantity": 1,
                }
            ],
            "client_reference_id": user_id,
            "metadata": {"user_id": user_id, "pack_id": pack.id},
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        try:
            session = await self._client.v1.checkout.sessions.create_async(
                params, {"idempotency_key": idempotency_key}
            )
        except stripe.StripeError as error:
            raise StripeUnavailable(str(error)) from error
        url = session.url
        if not isinstance(session.id, str) or not isinstance(url, str):
            raise StripeUnavailable("Stripe answered a Checkout Session without an id or URL")
        return CreatedSession(session.id, url)

    async def close(self) -> None:
        # stripe-python leaves this one method unannotated.
        await self._http.close_async()  # type: ignore[no-untyped-call]
