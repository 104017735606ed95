"""What `make run` prints: where everything is, never a secret."""

from __future__ import annotations

from scripts.launch import System, _welcome


def test_the_welcome_says_where_the_secrets_are_without_printing_them() -> None:
    env = {
        "LIVEVOTE_ADMIN_EMAIL": "admin@livevote.dev",
        "LIVEVOTE_ADMIN_PASSWORD": "a-password-nobody-may-see",
        "LIVEVOTE_STRIPE_WEBHOOK_SECRET": "whsec_nobody_may_see_this",
        "LIVEVOTE_JWT_SECRET": "a-signing-key-nobody-may-see-either-0123456789",
        "LIVEVOTE_STRIPE_API_BASE": "http://127.0.0.1:12111",
        "LIVEVOTE_FCM_URL": "http://127.0.0.1:12121",
    }
    welcome = _welcome(System(env, output=None))
    assert "admin@livevote.dev" in welcome and "LIVEVOTE_ADMIN_PASSWORD" in welcome
    assert "http://127.0.0.1:8000/admin" in welcome
    for secret in (
        "LIVEVOTE_ADMIN_PASSWORD",
        "LIVEVOTE_STRIPE_WEBHOOK_SECRET",
        "LIVEVOTE_JWT_SECRET",
    ):
        assert env[secret] not in welcome
