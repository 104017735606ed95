"""The gateway's settings, read from the environment (prefix ``LIVEVOTE_``)."""

from __future__ import annotations

import secrets
from typing import Self

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator

from eventing.settings import RuntimeSettings

# HS256 is only as strong as its key: RFC 7518 asks for at least 256 bits.
MIN_JWT_SECRET_LENGTH = 32


class GatewaySettings(RuntimeSettings):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65_535)
    jwt_secret: SecretStr | None = None
    jwt_ttl_seconds: int = Field(default=3600, ge=1, le=30 * 24 * 3600)
    admin_email: str | None = None
    admin_password: SecretStr | None = None
    admin_display_name: str = Field(default="Administrator", min_length=1, max_length=100)
    _jwt_secret_generated: bool = PrivateAttr(default=False)

    @field_validator("jwt_secret")
    @classmethod
    def _strong_secret(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None and len(secret.get_secret_value()) < MIN_JWT_SECRET_LENGTH:
            raise ValueError(
                f"LIVEVOTE_JWT_SECRET needs at least {MIN_JWT_SECRET_LENGTH} characters"
            )
        return secret

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
    def signing_key(self) -> str:
        assert self.jwt_secret is not None  # set by the validator
        return self.jwt_secret.get_secret_value()
