"""Pushes to phones through Firebase Cloud Messaging, with firebase-admin.

:class:`FcmPusher` sends up to 500 messages per ``send_each_async`` call and tells each
push's fate: delivered; refused for good because the token is dead (``UNREGISTERED``,
an invalid token, a sender mismatch: the caller removes it); or failed after FCM kept
refusing it for a while (429, 5xx), retried with backoff that honours FCM's
``Retry-After``. Nothing is dropped without an outcome.

Locally and in tests firebase-admin talks to the project's fake FCM server: its
``FCM_URL`` is the seam (firebase-admin is pinned for that reason), and a fixed bearer
token stands in for a service account.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import firebase_admin
from firebase_admin import credentials, exceptions, messaging
from google.oauth2.credentials import Credentials as BearerToken
from tenacity import AsyncRetrying, RetryCallState, retry_if_result, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from eventing.logs import get_logger
from eventing.metrics import PUSHES
from services.notifier.settings import NotifierSettings

log = get_logger(__name__)

# FCM takes at most this many messages per send_each call.
BATCH = 500
# FCM's own limit on a message's time to live.
LONGEST_TTL = timedelta(weeks=4)

Fate = Literal["delivered", "dead", "failed"]


@dataclass(frozen=True, slots=True)
class Push:
    token: str
    title: str
    body: str
    data: dict[str, str]
    # A push that has not reached the phone by then is not worth showing (an alert after
    # its voting closed); None: FCM's default.
    expires_at: datetime | None = None
    # Pushes with one key replace each other on the phone while it is offline.
    collapse_key: str | None = None
    urgent: bool = False


@dataclass(frozen=True, slots=True)
class Sent:
    push: Push
    fate: Fate
    error: str | None = None


class LocalCredential(credentials.Base):  # type: ignore[misc]
    """A fixed bearer token, for an FCM server that is not Google's."""

    def get_credential(self) -> BearerToken:
        return BearerToken("local-fcm-token")  # type: ignore[no-untyped-call]


class FcmPusher:
    def __init__(self, settings: NotifierSettings, app_name: str = "livevote-notifier") -> None:
        self._settings = settings
        self._app: firebase_admin.App | None = None
        self._app_name = app_name

    def _firebase(self) -> firebase_admin.App:
        if self._app is None:
            settings = self._settings
            credential: credentials.Base
            if settings.fcm_credentials_file is not None:
                credential = credentials.Certificate(str(settings.fcm_credentials_file))
            else:
                credential = LocalCredential()
            if settings.fcm_url is not None:
                base = str(settings.fcm_url).rstrip("/")
                messaging._MessagingService.FCM_URL = base + "/v1/projects/{0}/messages:send"
            options: dict[str, object] = {"httpTimeout": settings.fcm_timeout_seconds}
            if settings.fcm_credentials_file is None:
                options["projectId"] = settings.fcm_project_id
            self._app = firebase_admin.initialize_app(credential, options, name=self._app_name)
        return self._app

    async def send(self, pushes: Sequence[Push], now: datetime | None = None) -> list[Sent]:
        """Every push's fate, in order."""
        if not self._settings.fcm_configured:
            return [Sent(push, "failed", "FCM is not configured") for push in pushes]
        now = now or datetime.now(UTC)
        sent: list[Sent] = []
        for start in range(0, len(pushes), BATCH):
            sent += await self._send_chunk(list(pushes[start : start + BATCH]), now)
        for outcome in sent:
            PUSHES.labels(outcome.fate).inc()
        return sent

    async def _send_chunk(self, pushes: list[Push], now: datetime) -> list[Sent]:
        fates: dict[int, Sent] = {}
        waiting = list(range(len(pushes)))
        retry_after: list[float] = []
        backoff = wait_exponential_jitter(
            multiplier=0.5, max=self._settings.fcm_longest_wait_seconds, jitter=0.5
        )

        def wait(state: RetryCallState) -> float:
            # As long as FCM asked for, or our own backoff when it did not say.
            return max(retry_after, default=backoff(state))

        async def attempt() -> list[int]:
            nonlocal waiting
            retry_after.clear()
            waiting = await self._attempt(pushes, waiting, fates, retry_after, now)
            return waiting

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._settings.fcm_attempts),
            wait=wait,
            retry=retry_if_result(bool),  # while some pushes are still worth a try
            retry_error_callback=lambda _: waiting,  # out of tries: they stay failed
            reraise=True,
        )
        await retrying(attempt)
        if waiting:
            log.warning("pushes failed after every retry", failed=len(waiting))
        return [fates[index] for index in range(len(pushes))]

    async def _attempt(
        self,
        pushes: list[Push],
        waiting: list[int],
        fates: dict[int, Sent],
        retry_after: list[float],
        now: datetime,
    ) -> list[int]:
        """Send the pushes at ``waiting``; the indexes still worth another try."""
        messages = [_message(pushes[index], now) for index in waiting]
        response = await messaging.send_each_async(messages, app=self._firebase())
        again: list[int] = []
        for index, result in zip(waiting, response.responses, strict=True):
            push = pushes[index]
            if result.success:
                fates[index] = Sent(push, "delivered")
                continue
            error = result.exception
            if _dead(error):
                fates[index] = Sent(push, "dead", _describe(error))
            elif _transient(error):
                fates[index] = Sent(push, "failed", _describe(error))
                if (seconds := _retry_after(error)) is not None:
                    retry_after.append(seconds)
                again.append(index)
            else:
                fates[index] = Sent(push, "failed", _describe(error))
                log.warning("a push was refused", error=_describe(error))
        return again

    async def close(self) -> None:
        if self._app is not None:
            # firebase-admin closes its HTTP clients with asyncio.run(), which cannot run
            # inside this event loop: it gets a thread (and a loop) of its own.
            await asyncio.to_thread(firebase_admin.delete_app, self._app)
            self._app = None


def _message(push: Push, now: datetime) -> messaging.Message:
    ttl: timedelta | None = None
    if push.expires_at is not None:
        ttl = min(max(push.expires_at - now, timedelta(0)), LONGEST_TTL)
    apns_headers = {"apns-priority": "10" if push.urgent else "5"}
    if push.expires_at is not None:
        apns_headers["apns-expiration"] = str(int(push.expires_at.timestamp()))
    if push.collapse_key is not None:
        apns_headers["apns-collapse-id"] = push.collapse_key
    return messaging.Message(
        # FCM now names a device's registration token its installation id (fid).
        fid=push.token,
        notification=messaging.Notification(title=push.title, body=push.body),
        data=push.data,
        android=messaging.AndroidConfig(
            ttl=ttl,
            priority="high" if push.urgent else "normal",
            collapse_key=push.collapse_key,
        ),
        apns=messaging.APNSConfig(headers=apns_headers),
    )


def _dead(error: Exception | None) -> bool:
    """FCM will never deliver to this token again: the app was removed, or the token is
    not one (or not ours)."""
    return isinstance(
        error,
        messaging.UnregisteredError | messaging.SenderIdMismatchError | exceptions.NotFoundError,
    ) or (isinstance(error, exceptions.InvalidArgumentError) and "token" in str(error).lower())


def _transient(error: Exception | None) -> bool:
    return isinstance(
        error,
        messaging.QuotaExceededError
        | exceptions.ResourceExhaustedError
        | exceptions.UnavailableError
        | exceptions.InternalError
        | exceptions.DeadlineExceededError,
    )


def _retry_after(error: exceptions.FirebaseError) -> float | None:
    response = error.http_response
    header = response.headers.get("Retry-After") if response is not None else None
    if header is None or not header.strip().isdigit():
        return None
    return float(header)


def _describe(error: Exception | None) -> str:
    if isinstance(error, exceptions.FirebaseError):
        return f"{error.code}: {error}"
    return repr(error)
