"""Awaiting many things with a bound on how many run at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import TypeVar

T = TypeVar("T")


async def bounded(work: Iterable[Awaitable[T]], limit: int) -> list[T]:
    """Await every item, at most ``limit`` at once; the results in the items' order.

    Items are taken from ``work`` only as a place frees up, so a generator of coroutines
    starts each one when it is its turn.
    """
    items = enumerate(work)
    results: dict[int, T] = {}

    async def worker() -> None:
        for index, item in items:
            results[index] = await item

    await asyncio.gather(*(worker() for _ in range(limit)))
    return [results[index] for index in range(len(results))]
