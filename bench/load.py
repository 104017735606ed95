"""The load generator: each user votes once in each voting over HTTP, a fixed number of
requests in flight, every answer's status and latency kept. The same for livevote's
gateway and for the plain peer."""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.meter import Memory
from eventing.gather import bounded


@dataclass(frozen=True)
class User:
    id: str
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Sample:
    status: int  # 0: no HTTP answer
    code: str | None  # the API error code, or the transport error
    latency_ms: float


@dataclass
class Run:
    name: str
    samples: list[Sample]
    seconds: float
    # Whose votes these were: "livevote" or "peer".
    system: str = "livevote"
    # CPU seconds per process group, from the first vote until every vote settled.
    cpu: dict[str, float] = field(default_factory=dict)
    # Resident memory of each process over the same span.
    memory: Memory | None = None
    # Commands the store served over the same span, by name (when it says).
    store_commands: dict[str, float] = field(default_factory=dict)

    @classmethod
    def pooled(cls, runs: Sequence[Run]) -> Run:
        """The runs of one name over several rounds as one: every answer, their seconds,
        CPU and store commands added up, the memory's peaks over all of them."""
        first = runs[0]
        memories = [run.memory for run in runs if run.memory is not None]
        return cls(
            first.name,
            [sample for run in runs for sample in run.samples],
            sum(run.seconds for run in runs),
            first.system,
            cpu=_added([run.cpu for run in runs]),
            memory=Memory.pooled(memories) if memories else None,
            store_commands=_added([run.store_commands for run in runs]),
        )

    def count(self, status: int) -> int:
        return sum(1 for s in self.samples if s.status == status)

    @property
    def accepted(self) -> int:
        return self.count(201) + self.count(202)

    def rate(self, amount: int) -> float:
        return amount / self.seconds if self.seconds > 0 else 0.0

    def percentiles(self) -> tuple[float, float, float]:
        """p50, p95 and p99 of every answer's latency, in milliseconds."""
        latencies = [s.latency_ms for s in self.samples]
        if len(latencies) < 2:
            return (latencies[0],) * 3 if latencies else (0.0, 0.0, 0.0)
        cuts = statistics.quantiles(latencies, n=100, method="inclusive")
        return cuts[49], cuts[94], cuts[98]

    def errors(self) -> Counter[str]:
        return Counter(
            f"{s.status} {s.code or ''}".strip() for s in self.samples if s.status not in (201, 202)
        )

    @property
    def cpu_ms_per_vote(self) -> float:
        """CPU milliseconds of every measured process per accepted vote."""
        return 1000 * sum(self.cpu.values()) / self.accepted if self.accepted else 0.0


def _added(counts: Sequence[dict[str, float]]) -> dict[str, float]:
    added: dict[str, float] = {}
    for count in counts:
        for name, value in count.items():
            added[name] = added.get(name, 0.0) + value
    return added


async def cast(http: aiohttp.ClientSession, user: User, voting_id: str, option_id: str) -> Sample:
    started = time.perf_counter()
    try:
        async with http.post(
            f"votings/{voting_id}/votes", headers=user.headers, json={"option_id": option_id}
        ) as response:
            body = await response.read()
    except (aiohttp.ClientError, TimeoutError) as error:
        return Sample(0, type(error).__name__, (time.perf_counter() - started) * 1000)
    latency = (time.perf_counter() - started) * 1000
    return Sample(response.status, _error_code(response.status, body), latency)


def _error_code(status: int, body: bytes) -> str | None:
    if status < 400:
        return None
    try:
        return str(json.loads(body)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


async def drive(
    api: str,
    name: str,
    users: Sequence[User],
    votings: Sequence[dict[str, Any]],
    concurrency: int,
) -> Run:
    """Each user votes once in each voting, ``concurrency`` requests in flight.

    Through aiohttp, not the httpx client of the set-up: the load generator shares the
    machine's cores with the system, and aiohttp spends a fraction of httpx's CPU per
    request (most of all with many connections).
    """
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(f"{api}/", connector=connector, timeout=timeout) as http:
        votes = (
            cast(http, user, voting["id"], voting["options"][n % len(voting["options"])]["id"])
            for n, user in enumerate(users)
            for voting in votings
        )
        started = time.perf_counter()
        samples = await bounded(votes, concurrency)
        return Run(name, samples, time.perf_counter() - started)
