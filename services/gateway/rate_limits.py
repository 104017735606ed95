"""Abuse limits: failed logins per account, logins and signups per address, votes per user.

- **Failed logins per account** are counted in the store, so that every gateway process
  sees the same count: after ``login_failures_per_account`` wrong passwords within
  ``login_failure_window_seconds``, logging in to that account is refused with 429
  ``RATE_LIMITED`` (even with the right password) until the window ends; ``Retry-After``
  says when. The count lives in one document per account and window, keyed by both, so
  an increment is an upsert by ``_id`` (no scan on FerretDB, no update pipeline).
- **Per address and per user** rates (``"50/second"``, the notation of the `limits`
  library) are counted in each gateway process's memory, per fixed window: they are
  there to stop a flood, which one process sees for itself, without a store round trip
  on every vote. With N gateway processes a client gets at most N times the rate, and
  across a window's end at most twice it for a moment. The counts are a bounded
  ``cachetools`` cache whose entries expire with their window: `limits`' own in-memory
  storage starts a thread every 10 ms under load to expire its entries, which cost
  the gateway a tenth of its CPU per vote.

Addresses are the connection's peer, or the client a trusted proxy names (uvicorn's
``forwarded_allow_ips``), so that users behind one proxy are limited one by one.
"""

from __future__ import annotations

import contextlib
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from cachetools import TTLCache
from limits import RateLimitItem, parse
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from contracts import ErrorCode
from services.gateway.errors import ApiError
from services.gateway.settings import GatewaySettings


def rate_limited(retry_after: float, message: str) -> ApiError:
    seconds = max(1, math.ceil(retry_after))
    return ApiError(
        ErrorCode.RATE_LIMITED,
        message,
        {"retry_after_seconds": seconds},
        headers={"Retry-After": str(seconds)},
    )


class Rates:
    """Requests per key in fixed windows, in this process."""

    def __init__(self, settings: GatewaySettings) -> None:
        self._limits: dict[str, RateLimitItem] = {
            "login": parse(settings.login_rate_per_address),
            "signup": parse(settings.signup_rate_per_address),
            "vote": parse(settings.vote_rate_per_user),
        }
        # Keyed by action, key and window; kept as long as the longest window lasts. Past
        # ``rate_keys_at_most`` keys the oldest are forgotten (a flood of new keys can
        # only reset its own counts).
        longest = max(limit.get_expiry() for limit in self._limits.values())
        self._counts: TTLCache[tuple[str, str, int], int] = TTLCache(
            settings.rate_keys_at_most, longest, timer=time.monotonic
        )

    def check(self, action: str, key: str) -> None:
        """Count one ``action`` by ``key``; 429 once its rate is exceeded."""
        limit = self._limits[action]
        span = limit.get_expiry()
        now = time.time()
        window = int(now // span)
        counted = self._counts.get((action, key, window), 0) + 1
        self._counts[(action, key, window)] = counted
        if counted <= limit.amount:
            return
        raise rate_limited(
            (window + 1) * span - now, f"too many {action} requests; slow down and retry later"
        )


class LoginFailures:
    """Wrong passwords per account, shared by every gateway process (see module doc)."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]], settings: GatewaySettings) -> None:
        self._failures = database["login_failures"]
        self._limit = settings.login_failures_per_account
        self._window = timedelta(seconds=settings.login_failure_window_seconds)

    def _current(self, account: str) -> tuple[str, datetime]:
        span = self._window.total_seconds()
        start = datetime.fromtimestamp(time.time() // span * span, UTC)
        return f"{account}@{int(start.timestamp())}", start + self._window

    async def check(self, account: str) -> None:
        """429 while ``account`` has had too many failed logins in this window."""
        key, ends = self._current(account)
        counted = await self._failures.find_one({"_id": key})
        if counted is not None and counted["failures"] >= self._limit:
            raise rate_limited(
                (ends - datetime.now(UTC)).total_seconds(),
                "too many failed logins for this account; try again later",
            )

    async def record(self, account: str) -> None:
        key, ends = self._current(account)
        await self._failures.update_one(
            {"_id": key},
            {"$inc": {"failures": 1}, "$setOnInsert": {"ends_at": ends}},
            upsert=True,
        )

    async def ensure_indexes(self) -> None:
        # A store without TTL indexes keeps old windows; they only take space.
        with contextlib.suppress(OperationFailure):
            await self._failures.create_index("ends_at", expireAfterSeconds=0)
