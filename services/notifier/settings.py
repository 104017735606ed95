"""The notifier's settings, read from the environment (prefix ``LIVEVOTE_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, AnyHttpUrl, Field

from eventing.settings import RuntimeSettings


class NotifierSettings(RuntimeSettings):
    # Firebase Cloud Messaging. Production: the service-account key file (a mounted
    # Secret) names the project. Local runs and tests: `fcm_url` points firebase-admin at
    # the project's fake FCM server (scripts/fake_fcm.py), with no key needed.
    fcm_credentials_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "LIVEVOTE_FCM_CREDENTIALS_FILE", "GOOGLE_APPLICATION_CREDENTIALS"
        ),
    )
    fcm_project_id: str = "livevote-local"
    fcm_url: AnyHttpUrl | None = None
    # Pushes that FCM refuses for a while (429, 5xx) are tried again this often, waiting
    # as FCM's Retry-After says, else backing off exponentially up to the longest wait.
    fcm_attempts: int = Field(default=6, ge=1, le=20)
    fcm_longest_wait_seconds: float = Field(default=30.0, gt=0, le=600)
    fcm_timeout_seconds: int = Field(default=30, ge=1, le=300)

    @property
    def fcm_configured(self) -> bool:
        """Somewhere to push to; without it every push is recorded as failed (and the
        notifier warns at start), while inbox and in-app delivery go on."""
        return self.fcm_credentials_file is not None or self.fcm_url is not None
