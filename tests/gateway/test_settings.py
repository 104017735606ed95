"""Settings from the environment."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.gateway.settings import GatewaySettings


def test_defaults_listen_locally_and_make_up_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LIVEVOTE_JWT_SECRET", "LIVEVOTE_ADMIN_EMAIL", "LIVEVOTE_ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)

    first, second = GatewaySettings(), GatewaySettings()

    assert (first.host, first.port) == ("127.0.0.1", 8000)
    assert first.jwt_secret_generated
    assert len(first.signing_key) >= 32
    assert first.signing_key != second.signing_key
    assert first.admin_email is None


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEVOTE_JWT_SECRET", "s" * 40)
    monkeypatch.setenv("LIVEVOTE_ADMIN_EMAIL", "Admin@Livevote.Local")
    monkeypatch.setenv("LIVEVOTE_ADMIN_PASSWORD", "local-admin")
    monkeypatch.setenv("LIVEVOTE_PORT", "9000")

    settings = GatewaySettings()

    assert settings.signing_key == "s" * 40
    assert not settings.jwt_secret_generated
    # A local address is fine for the operator's own account.
    assert settings.admin_email == "Admin@Livevote.Local"
    assert settings.admin_password is not None
    assert settings.admin_password.get_secret_value() == "local-admin"
    assert settings.port == 9000


@pytest.mark.parametrize(
    "values",
    [
        {"jwt_secret": "too short"},
        {"admin_email": "admin@example.com"},
        {"admin_password": "only a password"},
        {"admin_email": "not an address", "admin_password": "secret"},
    ],
)
def test_settings_that_cannot_work_are_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, str]
) -> None:
    for name in ("LIVEVOTE_JWT_SECRET", "LIVEVOTE_ADMIN_EMAIL", "LIVEVOTE_ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)

    with pytest.raises(ValidationError):
        GatewaySettings(**values)  # type: ignore[arg-type]


def test_payment_and_vote_settings_have_working_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "LIVEVOTE_STRIPE_WEBHOOK_SECRET",
        "LIVEVOTE_CHECKOUT_SUCCESS_URL",
        "LIVEVOTE_CHECKOUT_CANCEL_URL",
        "LIVEVOTE_VOTING_CONFIRM_WAIT_SECONDS",
        "LIVEVOTE_REQUEST_TIMEOUT_SECONDS",
    ):
        monkeypatch.delenv(name, raising=False)

    settings = GatewaySettings()

    assert settings.stripe_webhook_secret is None
    assert settings.stripe_webhook_tolerance_seconds == 300
    assert "{CHECKOUT_SESSION_ID}" in str(settings.checkout_success_url)
    assert str(settings.checkout_cancel_url).startswith("http")
    # A vote may wait for the voting service's confirm wait on top of any request's time.
    assert settings.cast_vote_timeout_seconds == 5.0 + 1.5


def test_the_voting_confirm_wait_is_read_from_the_variable_voting_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIVEVOTE_VOTING_CONFIRM_WAIT_SECONDS", "4")
    monkeypatch.setenv("LIVEVOTE_REQUEST_TIMEOUT_SECONDS", "2")
    monkeypatch.setenv("LIVEVOTE_STRIPE_WEBHOOK_SECRET", "whsec_from_the_environment")
    monkeypatch.setenv("LIVEVOTE_CHECKOUT_CANCEL_URL", "https://app.example.com/shop")

    settings = GatewaySettings()

    assert settings.cast_vote_timeout_seconds == 6.0
    assert settings.stripe_webhook_secret is not None
    assert settings.stripe_webhook_secret.get_secret_value() == "whsec_from_the_environment"
    assert "whsec_from_the_environment" not in repr(settings)
    assert str(settings.checkout_cancel_url) == "https://app.example.com/shop"
