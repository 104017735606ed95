"""The gateway's settings, read from the environment (prefix ``LIVEVOTE_``)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Self

from limits import parse
from pydantic import AnyHttpUrl, Field, PrivateAttr, SecretStr, field_validator, model_validator

from eventing.settings import RuntimeSettings
from services.gateway.auth import MAX_TOKEN_TTL

# HS256 is only as strong as its key: RFC 7518 asks for at least 256 bits.
MIN_JWT_SECRET_LENGTH = 32


class GatewaySettings(RuntimeSettings):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65_535)
    # Several gateway processes on one machine listen on `port` together (SO_REUSEPORT:
    # the kernel spreads connections over them) ...
    share_port: bool = False
    # ... and each may listen on a port of its own too, to reach that one on purpose.
    replica_port: int | None = Field(default=None, ge=1, le=65_535)
    jwt_secret: SecretStr | None = None
    jwt_ttl_seconds: int = Field(default=3600, ge=1, le=int(MAX_TOKEN_TTL.total_seconds()))
    # Access tokens whose signature this process has checked, remembered with the caller
    # they name (0: check every request's).
    verified_tokens_at_most: int = Field(default=10_000, ge=0, le=10_000_000)
    # How often this process tells the notifier who holds a socket on it (and soon after
    # anyone comes or goes).
    presence_interval_seconds: float = Field(default=5.0, gt=0, le=300)
    admin_email: str | None = None
    admin_password: SecretStr | None = None
    admin_display_name: str = Field(default="Administrator", min_length=1, max_length=100)
    # The voting service's own setting of the same name (one variable moves both): how long
    # it holds a paid vote's request waiting for the saga before answering "pending".
    voting_confirm_wait_seconds: float = Field(default=1.5, ge=0, le=30)
    # Where Stripe Checkout sends the buyer's browser back: pages of the client app.
    # Stripe fills in {CHECKOUT_SESSION_ID}.
    checkout_success_url: AnyHttpUrl = AnyHttpUrl(
        "http://127.0.0.1:8000/credits/success?session_id={CHECKOUT_SESSION_ID}"
    )
    checkout_cancel_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8000/credits/cancelled")
    # The largest request body accepted (413 above, before it is read); Stripe's events
    # may be larger than any body a client sends.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=64 * 1024 * 1024)
    stripe_webhook_max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    # Abuse limits (services.gateway.rate_limits). Rates are `limits` notation, per
    # gateway process; failed logins are counted per account across processes.
    login_failures_per_account: int = Field(default=10, ge=1, le=10_000)
    login_failure_window_seconds: int = Field(default=900, ge=1, le=24 * 3600)
    login_rate_per_address: str = "50/second"
    signup_rate_per_address: str = "50/second"
    vote_rate_per_user: str = "10/second"
    # Addresses and users whose rates one process keeps count of at once.
    rate_keys_at_most: int = Field(default=100_000, ge=100, le=10_000_000)
    # The access log: every failed (4xx but 429, and 5xx) or slow request is logged, and
    # this share of the others (1: every request). A log line per vote is a fifth of
    # the gateway's work at full load.
    access_log_sample_rate: float = Field(default=0.01, ge=0, le=1)
    slow_request_ms: float = Field(default=1000, gt=0)
    # Proxies (addresses, comma-separated, or "*") trusted to name the client they forward.
    forwarded_allow_ips: str = "127.0.0.1"
    # Threads hashing passwords, and how many hashes one address may have waiting.
    hashing_threads: int = Field(default=2, ge=1, le=64)
    hashing_per_address: int = Field(default=2, ge=1, le=64)
    # Web origins (scheme://host[:port]) whose pages may call the API and open the
    # WebSocket; none by default: only the gateway's own pages.
    cors_origins: list[str] = []
    # The front end's build (web/dist), served at / and /admin.
    web_dir: Path = Path(__file__).resolve().parents[2] / "web" / "dist"

    # The signing secret of the Stripe webhook endpoint (whsec_...). Unset, every webhook
    # is answered 503, so Stripe keeps retrying until the gateway is configured.
    stripe_webhook_secret: SecretStr | None = None
    # How old a webhook's signed timestamp may be; older ones are refused as replays.
    stripe_webhook_tolerance_seconds: int = Field(default=300, ge=1, le=24 * 3600)
    _jwt_secret_generated: bool = PrivateAttr(default=False)

    @field_validator("jwt_secret")
    @classmethod
    def _strong_secret(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None and len(secret.get_secret_value()) < MIN_JWT_SECRET_LENGTH:
            raise ValueError(
                f"LIVEVOTE_JWT_SECRET needs at least {MIN_JWT_SECRET_LENGTH} characters"
            )
        return secret

    @field_validator("login_rate_per_address", "signup_rate_per_address", "vote_rate_per_user")
    @classmethod
    def _rate(cls, rate: str) -> str:
        try:
            parse(rate)
        except ValueError:
            raise ValueError(f"{rate!r} is not a rate such as '50/second'") from None
        return rate

    @field_validator("admin_email")
    @classmethod
    def _admin_email(cls, email: str | None) -> str | None:
        if email is None:
            return None
        # Only the shape of an address: operators name local accounts like
        # admin@livevote.local, which a check for deliverable addresses refuses.
        email = email.strip()
        local, _, domain = email.rpartition("@")
        if not local or not domain or any(c.isspace() for c in email):
            raise ValueError("LIVEVOTE_ADMIN_EMAIL is not an e-mail address")
        return email

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if (self.admin_email is None) != (self.admin_password is None):
            raise ValueError(
                "set both LIVEVOTE_ADMIN_EMAIL and LIVEVOTE_ADMIN_PASSWORD, or neither"
            )
        if self.admin_password is not None and not self.admin_password.get_secret_value():
            raise ValueError("LIVEVOTE_ADMIN_PASSWORD is empty")
        if self.jwt_secret is None:
            self.jwt_secret = SecretStr(secrets.token_urlsafe(48))
            self._jwt_secret_generated = True
        return self

    @property
    def jwt_secret_generated(self) -> bool:
        """No secret was configured: this process made one up, known to it alone."""
        return self._jwt_secret_generated

    @property
    def cast_vote_timeout_seconds(self) -> float:
        """How long a vote waits for the voting service: its confirm wait on top of the
        time any request may take, so a vote still settling is not cut off as a 503."""
        return self.request_timeout_seconds + self.voting_confirm_wait_seconds

    @property
    def signing_key(self) -> str:
        assert self.jwt_secret is not None  # set by the validator
        return self.jwt_secret.get_secret_value()
