"""Whether every vote is accounted for: the answers the load generator got against the
votes livevote counted and the credits its wallet debited."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from bench.load import Run
from contracts.voting import VoteCast
from eventing.settings import RuntimeSettings
from eventing.store import COMMITS, stored_event
from services.wallet.store import OPEN_RESERVATIONS_COLLECTION


@dataclass
class Accounting:
    answered: int  # 201 + 202
    # Votes the gateway gave up waiting for (503): they may have been counted all the same.
    unanswered: int
    counted: int
    counted_source: str
    debited: int | None = None
    debited_source: str = ""
    notes: list[str] = field(default_factory=list)
    # What does not add up besides the totals (one voter's credits, say).
    problems: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, run: Run, counted: int, source: str) -> Accounting:
        unanswered = sum(1 for s in run.samples if s.status in (0, 503, 504))
        return cls(
            answered=run.accepted, unanswered=unanswered, counted=counted, counted_source=source
        )

    @property
    def ok(self) -> bool:
        if self.counted != self.answered or self.problems:
            return False
        return self.debited is None or self.debited == self.counted


async def counted_votes(
    http: httpx.AsyncClient,
    admin: dict[str, str],
    settings: RuntimeSettings,
    votings: Sequence[dict[str, Any]],
) -> tuple[int, str]:
    """Votes counted in the votings: from their results, else from the voting service's
    store."""
    total = 0
    for voting in votings:
        results = await http.get(f"/votings/{voting['id']}/results", headers=admin)
        if results.status_code != 200:
            ids = {voting["id"] for voting in votings}
            stored = await count_events(settings, "voting", "vote-", VoteCast.type, ids)
            return stored, f"the voting store (results answered {results.status_code})"
        total += int(results.json()["total"])
    return total, "GET /votings/{id}/results"


async def count_events(
    settings: RuntimeSettings,
    service: str,
    stream_prefix: str,
    event_type: str,
    voting_ids: set[str],
) -> int:
    """Events of one type about some votings in a service's event store."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url)
    try:
        query = {"stream": {"$regex": f"^{re.escape(stream_prefix)}"}}
        database = client[settings.database_name(service)]
        count = 0
        async for commit in database[COMMITS].find(query, {"events": 1}):
            for event in map(stored_event, commit["events"]):
                if event.type == event_type and event.payload.get("voting_id") in voting_ids:
                    count += 1
        return count
    finally:
        await client.close()


async def open_reservations(settings: RuntimeSettings) -> int:
    """Credits the wallet holds for votes not settled yet: none once every paid vote's
    credit is debited or released. A count of a table as small as the votes in flight,
    where counting the debits themselves reads every account's events."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url)
    try:
        database = client[settings.database_name("wallet")]
        return await database[OPEN_RESERVATIONS_COLLECTION].count_documents({})
    finally:
        await client.close()


async def settled_count(
    probe: Callable[[], Awaitable[tuple[int, str]]], expected: int, timeout: float
) -> tuple[int, str]:
    """The count once it reaches ``expected`` or stops moving for a few seconds."""
    deadline = time.monotonic() + timeout
    last, source = await probe()
    still_since = time.monotonic()
    while last != expected and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        count, source = await probe()
        if count != last:
            last, still_since = count, time.monotonic()
        elif time.monotonic() - still_since > 5:
            break
    return last, source
