"""Idempotency keys: a key names one request, and is refused for any other.

A client retries a command with the same ``Idempotency-Key`` and gets the first answer
(the command's message id is derived from the key, and the service recognises it). A key
reused with a different body would silently get the first request's answer, so the
gateway remembers what each key was first used for: a fingerprint of the request's
route and body, stored by key with an insert that only one request can win. A later
request with the same key and another fingerprint is answered 409
``IDEMPOTENCY_KEY_REUSED`` (Stripe refuses it too); the same request goes through as a retry.

Keys are kept for a day (a TTL index; a retry comes within minutes), scoped to the
caller, so one user's key never collides with another's.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure

from contracts import ErrorCode
from services.gateway.errors import ApiError

KEPT_SECONDS = 24 * 3600


class IdempotencyKeys:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self._keys = database["idempotency_keys"]

    async def ensure_indexes(self) -> None:
        # A store without TTL indexes keeps the keys; they only take space.
        with contextlib.suppress(OperationFailure):
            await self._keys.create_index("created_at", expireAfterSeconds=KEPT_SECONDS)

    async def message_id(self, key: str | None, body: BaseModel | None, *scope: str) -> str | None:
        """The message id of the command sent with ``key`` (None without a key), once the
        key is known to name this very request."""
        scoped = command_id(key, *scope)
        if scoped is None:
            return None
        fingerprint = _fingerprint(body)
        try:
            await self._keys.insert_one(
                {"_id": scoped, "fingerprint": fingerprint, "created_at": datetime.now(UTC)}
            )
        except DuplicateKeyError:
            first = await self._keys.find_one({"_id": scoped})
            if first is not None and first["fingerprint"] != fingerprint:
                raise ApiError(
                    ErrorCode.IDEMPOTENCY_KEY_REUSED,
                    "this Idempotency-Key was used for a different request; "
                    "use a new key for a new request",
                ) from None
        return scoped


def command_id(key: str | None, *scope: str) -> str | None:
    """The message id of a command sent with a client's idempotency key, or None.

    The receiving service recognises a repeated command by its message id. The key is
    scoped to the caller and to what the command is about, so nobody's key can collide
    with another user's, nor one key reused for two different things.
    """
    if key is None:
        return None
    scoped = "\x1f".join((*scope, key))
    return hashlib.sha256(scoped.encode()).hexdigest()[:32]


def _fingerprint(body: BaseModel | None) -> str:
    canonical = json.dumps(
        None if body is None else body.model_dump(mode="json"), sort_keys=True
    ).encode()
    return hashlib.sha256(canonical).hexdigest()
