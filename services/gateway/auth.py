"""Passwords (argon2), access tokens (JWT, HS256) and who is calling (FastAPI dependencies)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar, get_args

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cachetools import LRUCache
from fastapi import Depends
from fastapi.security import HTTPBearer
from starlette.requests import HTTPConnection

from contracts import ErrorCode
from contracts.gateway import Role
from eventing.clock import Clock, SystemClock
from services.gateway.errors import ApiError

T = TypeVar("T")

ALGORITHM = "HS256"
# The longest access token TTL the settings allow.
MAX_TOKEN_TTL = timedelta(days=30)


class Passwords:
    """Argon2 hashing, off the event loop: one hash takes tens of milliseconds of CPU.

    Hashes run on threads of their own (``threads``), so a flood of logins cannot take
    the threads anything else needs, and each caller (an address) has at most
    ``per_caller`` hashes waiting or running: 32 connections of one flooder queue behind
    each other while someone else's login takes the next free thread.
    """

    def __init__(
        self, hasher: PasswordHasher | None = None, *, threads: int = 2, per_caller: int = 2
    ) -> None:
        self._hasher = hasher or PasswordHasher()
        self._decoy: str | None = None
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")
        self._turns = Turns(per_caller)

    async def hash(self, password: str, caller: str = "") -> str:
        return await self._run(caller, self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str, caller: str = "") -> bool:
        return await self._run(caller, self._verify, password_hash, password)

    async def _run(self, caller: str, work: Callable[..., T], *args: Any) -> T:
        async with self._turns.of(caller):
            return await asyncio.get_running_loop().run_in_executor(self._threads, work, *args)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def verify_decoy(self, password: str, caller: str = "") -> None:
        """Spend the time of a real check, so that unknown addresses cannot be told apart."""
        if self._decoy is None:
            self._decoy = await self.hash("a password nobody has")
        await self.verify(self._decoy, password, caller)

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


class Turns:
    """At most ``size`` holders at a time per key; a key nobody holds or waits for is
    forgotten, so the keys kept are bounded by the requests in flight."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._by_key: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @contextlib.asynccontextmanager
    async def of(self, key: str) -> AsyncIterator[None]:
        semaphore, users = self._by_key.get(key, (asyncio.Semaphore(self._size), 0))
        self._by_key[key] = (semaphore, users + 1)
        try:
            async with semaphore:
                yield
        finally:
            semaphore, users = self._by_key[key]
            if users == 1:
                del self._by_key[key]
            else:
                self._by_key[key] = (semaphore, users - 1)

    def __len__(self) -> int:
        return len(self._by_key)


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller a valid access token names."""

    user_id: str
    role: Role
    # When the token stops being valid: a WebSocket opened with it is closed then.
    expires_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class Tokens:
    """Issues and checks access tokens.

    A token checked once is remembered (up to ``remember`` of them, the least recently
    used forgotten first) with the caller it names: a voter sends the same token with
    every request, and checking its signature again cost a tenth of the gateway's CPU per
    vote. A remembered token is still refused from the moment it expires.
    """

    def __init__(
        self, secret: str, ttl: timedelta, clock: Clock | None = None, remember: int = 10_000
    ) -> None:
        self._secret = secret
        self.ttl = ttl
        self._clock = clock or SystemClock()
        self._verified: LRUCache[str, Principal] | None = LRUCache(remember) if remember else None

    def issue(self, user_id: str, role: Role) -> str:
        now = self._clock.now()
        claims: dict[str, Any] = {"sub": user_id, "role": role, "iat": now, "exp": now + self.ttl}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> Principal:
        if self._verified is None:
            return self._check(token)
        principal = self._verified.get(token)
        if principal is None:
            principal = self._verified[token] = self._check(token)
        elif principal.expires_at is not None and principal.expires_at <= self._clock.now():
            del self._verified[token]
            raise _unauthenticated("the access token has expired; log in again")
        return principal

    def _check(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["sub", "exp", "role"]},
            )
        except jwt.ExpiredSignatureError:
            raise _unauthenticated("the access token has expired; log in again") from None
        except jwt.InvalidTokenError:
            raise _unauthenticated("the access token is not valid") from None
        role = claims["role"]
        if role not in get_args(Role):
            raise _unauthenticated("the access token is not valid")
        try:
            expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
        except (OverflowError, OSError, ValueError):
            raise _unauthenticated("the access token is not valid") from None
        # Never issued here: no token lives longer than the longest TTL allowed.
        if expires_at > self._clock.now() + MAX_TOKEN_TTL:
            raise _unauthenticated("the access token is not valid")
        return Principal(user_id=str(claims["sub"]), role=role, expires_at=expires_at)


def _unauthenticated(message: str) -> ApiError:
    return ApiError(
        ErrorCode.UNAUTHENTICATED, message, headers={"WWW-Authenticate": 'Bearer realm="livevote"'}
    )


class BearerToken(HTTPBearer):
    """The caller, from the access token sent as a bearer token (the OpenAPI scheme
    ``HTTPBearer``).

    The scheme checks the token itself: one dependency of every route instead of the
    scheme and a check of what it found, which FastAPI solves at some 15 µs each on every
    request.
    """

    def __init__(self) -> None:
        # Not auto_error: a missing token must be a 401 in the API's error format.
        super().__init__(
            auto_error=False,
            bearerFormat="JWT",
            scheme_name="HTTPBearer",
            description="The access token from POST /api/v1/auth/login.",
        )

    # It answers with the caller instead of the credentials: that is the point of it.
    async def __call__(self, request: HTTPConnection) -> Principal:  # type: ignore[override]
        credentials = await super().__call__(request)
        if credentials is None:
            raise _unauthenticated("log in and send the access token as a bearer token")
        tokens: Tokens = request.app.state.tokens
        return tokens.verify(credentials.credentials)


# The dependencies here and in dependencies.py are coroutines, though nothing in them
# waits: FastAPI runs a plain function dependency in its thread pool, which cost a
# quarter of the gateway's CPU per vote.
current_principal = BearerToken()


async def admin_principal(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    if not principal.is_admin:
        raise ApiError(ErrorCode.FORBIDDEN, "only administrators may do this")
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]
Admin = Annotated[Principal, Depends(admin_principal)]
