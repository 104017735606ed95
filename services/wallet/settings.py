"""The wallet's settings, read from the environment (prefix ``LIVEVOTE_``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from eventing.settings import RuntimeSettings


class CreditPack(BaseModel):
    """What a user can buy in one Stripe Checkout: ``credits`` for ``price_cents``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    credits: int = Field(gt=0, le=1_000_000)
    # Stripe's smallest charge is about 50 cents in most currencies.
    price_cents: int = Field(ge=50, le=99_999_999)
    currency: str = Field(default="eur", pattern=r"^[a-z]{3}$")
    name: str = Field(min_length=1, max_length=100)

    def view(self) -> dict[str, object]:
        return self.model_dump()


DEFAULT_CREDIT_PACKS = [
    CreditPack(id="credits-5", credits=5, price_cents=500, name="5 credits"),
    CreditPack(id="credits-10", credits=10, price_cents=900, name="10 credits"),
    CreditPack(id="credits-25", credits=25, price_cents=2000, name="25 credits"),
]


class WalletSettings(RuntimeSettings):
    # LIVEVOTE_CREDIT_PACKS: a JSON list of packs ({"id", "credits", "price_cents",
    # "currency", "name"}), in the order they are offered.
    credit_packs: list[CreditPack] = Field(
        default_factory=lambda: list(DEFAULT_CREDIT_PACKS), min_length=1
    )
    # A test key that stripe-mock accepts; production sets the real secret key.
    stripe_api_key: SecretStr = SecretStr("sk_test_123")
    # Stripe's API; the local stack and the tests point this at stripe-mock.
    stripe_api_base: str = "https://api.stripe.com"
    stripe_timeout_seconds: float = Field(default=20.0, gt=0, le=120)
    # How long a paid vote's credit stays held before the wallet releases it by itself.
    wallet_reservation_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    # How often the wallet looks for reservations that outlived their timeout (the most
    # a release comes late).
    wallet_sweep_interval_seconds: float = Field(default=1.0, gt=0, le=300)

    @field_validator("credit_packs")
    @classmethod
    def _unique_pack_ids(cls, packs: list[CreditPack]) -> list[CreditPack]:
        ids = [pack.id for pack in packs]
        if len(set(ids)) != len(ids):
            raise ValueError("LIVEVOTE_CREDIT_PACKS has two packs with one id")
        return packs

    def pack_names(self) -> dict[str, str]:
        return {pack.id: pack.name for pack in self.credit_packs}

    def pack(self, pack_id: str) -> CreditPack | None:
        return next((pack for pack in self.credit_packs if pack.id == pack_id), None)
