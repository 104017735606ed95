"""Use cases on users: sign up, log in, preferences, and the admin account from settings."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

from contracts import ErrorCode
from contracts.gateway import Role
from eventing.clock import Clock, SystemClock
from eventing.logs import get_logger
from eventing.repository import Repository
from eventing.store import ConcurrencyConflict, EventStore
from services.gateway.auth import Passwords
from services.gateway.domain import (
    ABANDONED_CLAIM_AGE,
    EmailClaim,
    Preferences,
    User,
    normalise_email,
)
from services.gateway.errors import ApiError

log = get_logger(__name__)


def _email_taken() -> ApiError:
    return ApiError(ErrorCode.EMAIL_TAKEN, "an account with this e-mail address already exists")


def _invalid_credentials() -> ApiError:
    # One message whatever was wrong, so the answer does not reveal who has an account.
    return ApiError(ErrorCode.UNAUTHENTICATED, "wrong e-mail address or password")


class Users:
    def __init__(self, store: EventStore, passwords: Passwords, clock: Clock | None = None) -> None:
        self._store = store
        self._passwords = passwords
        self._clock = clock or SystemClock()
        self._users = Repository(store, User)
        self._claims = Repository(store, EmailClaim)

    async def get(self, user_id: str) -> User | None:
        return await self._users.get(user_id)

    async def find_by_email(self, email: str) -> User | None:
        claim = await self._claims.get(normalise_email(email))
        return None if claim is None else await self._users.get(claim.user_id)

    async def sign_up(
        self,
        email: str,
        password: str,
        display_name: str,
        *,
        role: Role = "user",
        correlation_id: str | None = None,
        caller: str = "",
    ) -> User:
        """Register a new user; raises EMAIL_TAKEN when the address has an account."""
        email = normalise_email(email)
        # Hashed before the claim, so the claim and the registration follow each other
        # closely and a claim with nothing behind it for long really was abandoned.
        password_hash = await self._passwords.hash(password, caller)
        user_id = uuid.uuid4().hex
        try:
            await self._claims.save(
                EmailClaim.claim(email, user_id, self._clock.now()), correlation_id=correlation_id
            )
        except ConcurrencyConflict:
            user_id = await self._abandoned_claim(email)
            log.warning("completing a signup that died after claiming its address", user_id=user_id)
        user = User.register(user_id, email, display_name, password_hash, role)
        try:
            await self._users.save(user, correlation_id=correlation_id)
        except ConcurrencyConflict:
            # Two signups completed the same abandoned claim; the other one won.
            raise _email_taken() from None
        log.info("user registered", user_id=user_id, role=role)
        return user

    async def _abandoned_claim(self, email: str) -> str:
        """The user id of an abandoned claim on ``email``; EMAIL_TAKEN for a live one."""
        claim = await self._claims.get(email)
        if claim is None or not claim.may_be_abandoned(self._clock.now()):
            raise _email_taken()
        if await self._store.has_commit_at(User.stream_name(claim.user_id), 1):
            raise _email_taken()
        return claim.user_id

    async def log_in(self, email: str, password: str, caller: str = "") -> User:
        """The user with this e-mail and password; ``caller`` (the client's address)
        waits its turn for the password check (see :class:`Passwords`)."""
        user = await self.find_by_email(email)
        if user is None:
            await self._passwords.verify_decoy(password, caller)
            raise _invalid_credentials()
        if not await self._passwords.verify(user.password_hash, password, caller):
            raise _invalid_credentials()
        if self._passwords.needs_rehash(user.password_hash):
            await self._rehash(user, password)
        return user

    async def _rehash(self, user: User, password: str) -> None:
        """Bring an old hash up to the current argon2 parameters (best effort)."""
        user.set_password(await self._passwords.hash(password))
        # A user who changed meanwhile keeps the old hash until the next login.
        with contextlib.suppress(ConcurrencyConflict):
            await self._users.save(user)

    async def change_preferences(
        self,
        user_id: str,
        *,
        reminders: bool | None = None,
        updates: bool | None = None,
        show_paid: bool | None = None,
        correlation_id: str | None = None,
    ) -> Preferences:
        changed = await self._users.change(
            user_id,
            lambda user: user.change_preferences(
                reminders=reminders, updates=updates, show_paid=show_paid
            ),
            correlation_id=correlation_id,
            create=False,
        )
        if changed is None:
            raise ApiError(ErrorCode.NOT_FOUND, "no such user")
        _, preferences, saved = changed
        if saved:
            log.info("preferences changed", user_id=user_id)
        return preferences

    async def ensure_admin(self, email: str, password: str, display_name: str) -> User:
        """Make sure ``email`` is an admin account that ``password`` opens.

        Idempotent, and safe when several replicas start at once: they race for the same
        e-mail claim, and the losers reconcile the account the winner registered.
        """
        deadline = time.monotonic() + 3 * ABANDONED_CLAIM_AGE.total_seconds()
        while True:
            user = await self.find_by_email(email)
            try:
                if user is not None:
                    return await self._make_admin(user, password)
                return await self.sign_up(email, password, display_name, role="admin")
            except ConcurrencyConflict:
                pass  # another replica changed the account meanwhile
            except ApiError as error:
                if error.code != ErrorCode.EMAIL_TAKEN:
                    raise
                # Another replica is between claiming the address and registering.
            if time.monotonic() > deadline:
                raise RuntimeError(f"could not set up the admin account {email}")
            await asyncio.sleep(0.2)

    async def _make_admin(self, user: User, password: str) -> User:
        if not user.is_admin:
            log.warning(
                "the admin address from the settings is a user's; promoting it", user_id=user.id
            )
            user.change_role("admin")
        if not await self._passwords.verify(user.password_hash, password):
            log.info("setting the admin password from the settings", user_id=user.id)
            user.set_password(await self._passwords.hash(password))
        if user.pending:
            await self._users.save(user)
        return user
