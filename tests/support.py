"""Helpers shared by the tests."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pymongo.asynchronous.database import AsyncDatabase

from contracts.gateway import UserRegistered
from eventing.store import COMMITS

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T] | T], *, timeout: float = 15.0, interval: float = 0.05
) -> T:
    """Poll ``probe`` (a function, or a coroutine function) until it returns something
    truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        value: T = await answer if inspect.isawaitable(answer) else answer
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        await asyncio.sleep(interval)


def registered(user_id: str) -> UserRegistered:
    """A plain user's registration, as the gateway announces it."""
    return UserRegistered(
        user_id=user_id, email=f"{user_id}@example.com", display_name=user_id.title(), role="user"
    )


async def count_commits(database: AsyncDatabase[dict[str, Any]], query: dict[str, Any]) -> int:
    """Commits matching ``query`` in a service's event store."""
    return await database[COMMITS].count_documents(query)
