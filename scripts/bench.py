"""How fast votes go through the whole system: ``make bench`` (``python -m scripts.bench``).

In one run on this machine: starts the local stack if needed and the five services as
processes (their own namespace, a free port, output to a log file); measures the broker
ceiling (persistent, confirmed publish-and-consume on a quorum queue with aio-pika, the
client FastStream runs on); creates users, a free and a paid voting, and drives votes
through the HTTP gateway at a chosen concurrency; then checks that every vote is
accounted for. It prints numbers and never asserts a speed: a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, TypeVar

import aio_pika
import aiohttp
import httpx
import psutil
from pymongo import AsyncMongoClient

from contracts import Envelope, Reply
from contracts.topology import SERVICES
from contracts.voting import VoteCast
from contracts.wallet import CreditsDebited, GrantCredits
from eventing.bus import Bus, ServiceUnavailable
from eventing.grouped import GroupedInserts
from eventing.settings import RuntimeSettings
from eventing.store import COMMITS
from scripts.launch import ROOT, ServiceProcess, System, free_port, local_stack

T = TypeVar("T")
OUT_DIR = ROOT / ".stack" / "bench"
PASSWORD = "bench password, long enough"
# Answers that mean an endpoint is not there (yet), as opposed to refusing the request.
NOT_THERE = {404, 405, 501}
# Votings of each kind a run may open: free and paid ones together stay within the 16
# that may overlap.
MAX_VOTINGS = 8


# Options -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    users: int
    votes: int
    votings: int
    concurrency: int
    ceiling_messages: int
    ceiling_in_flight: int
    store_inserts: int
    settle_seconds: float
    profile: tuple[str, ...]
    replicas: int
    keep: bool
    out_dir: Path


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench", description=__doc__)
    parser.add_argument("--users", type=int, default=1000, help="users created (default 1000)")
    parser.add_argument(
        "--votes", type=int, help="votes per voting, one per user (default: --users)"
    )
    parser.add_argument(
        "--votings",
        type=int,
        default=1,
        help="votings of each kind, open at once; every voter votes in each (default 1)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=64, help="requests in flight (default 64)"
    )
    parser.add_argument(
        "--ceiling-messages", type=int, default=20_000, help="broker ceiling messages"
    )
    parser.add_argument(
        "--ceiling-in-flight", type=int, default=128, help="unconfirmed publishes at once"
    )
    parser.add_argument(
        "--store-inserts",
        type=int,
        default=3000,
        help="inserts to measure the store with, each way",
    )
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=60.0,
        help="how long pending votes may take to settle before the accounting",
    )
    parser.add_argument(
        "--profile",
        nargs="?",
        const="voting,gateway",
        default="",
        metavar="SERVICES",
        help="run these services under py-spy and show where their CPU time goes "
        "(default voting,gateway)",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="processes of each service (default 1); CPU per vote is summed per service",
    )
    parser.add_argument("--keep", action="store_true", help="keep the run's queues and data")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR, help="logs and profiles")
    args = parser.parse_args(argv)
    votes = args.votes if args.votes is not None else args.users
    if not 0 < votes <= args.users:
        parser.error("--votes must be between 1 and --users: each user votes once per voting")
    if not 1 <= args.votings <= MAX_VOTINGS:
        # Free and paid ones are open at once, and the system allows 16 at a time.
        parser.error(f"--votings must be between 1 and {MAX_VOTINGS}")
    if args.replicas < 1:
        parser.error("--replicas must be at least 1")
    profiled = tuple(s for s in args.profile.split(",") if s)
    if unknown := set(profiled) - set(SERVICES):
        parser.error(f"--profile: no such service {', '.join(sorted(unknown))}")
    return Options(
        users=args.users,
        votes=votes,
        votings=args.votings,
        concurrency=args.concurrency,
        ceiling_messages=args.ceiling_messages,
        ceiling_in_flight=args.ceiling_in_flight,
        store_inserts=args.store_inserts,
        settle_seconds=args.settle_seconds,
        profile=profiled,
        replicas=args.replicas,
        keep=args.keep,
        out_dir=args.out_dir,
    )


# Results -----------------------------------------------------------------------------


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
    # CPU seconds per process group, from the first vote until every vote settled.
    cpu: dict[str, float] = field(default_factory=dict)

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


@dataclass(frozen=True)
class Ceiling:
    messages: int
    seconds: float
    publish_seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


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

    @classmethod
    def of(cls, run: Run, counted: int, source: str) -> Accounting:
        unanswered = sum(1 for s in run.samples if s.status in (0, 503, 504))
        return cls(
            answered=run.accepted, unanswered=unanswered, counted=counted, counted_source=source
        )

    @property
    def ok(self) -> bool:
        if self.counted != self.answered:
            return False
        return self.debited is None or self.debited == self.counted


@dataclass(frozen=True)
class User:
    id: str
    headers: dict[str, str]


# The system --------------------------------------------------------------------------


def bench_env(namespace: str) -> dict[str, str]:
    settings = RuntimeSettings()
    return {
        **os.environ,
        "LIVEVOTE_RABBITMQ_URL": settings.rabbitmq_url,
        "LIVEVOTE_MONGODB_URL": settings.mongodb_url,
        "LIVEVOTE_NAMESPACE": namespace,
        "LIVEVOTE_PORT": str(free_port()),
        "LIVEVOTE_ADMIN_EMAIL": f"admin@{namespace}.livevote.dev",
        "LIVEVOTE_ADMIN_PASSWORD": uuid.uuid4().hex,
        "LIVEVOTE_JWT_SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
    }


def runtime_settings(env: dict[str, str]) -> RuntimeSettings:
    return RuntimeSettings(
        rabbitmq_url=env["LIVEVOTE_RABBITMQ_URL"],
        mongodb_url=env["LIVEVOTE_MONGODB_URL"],
        namespace=env["LIVEVOTE_NAMESPACE"],
    )


async def drop_namespace(settings: RuntimeSettings, extra_queues: Iterable[str]) -> None:
    """Remove the run's databases, queues and exchanges."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url)
    try:
        for name in await client.list_database_names():
            if name.startswith(f"{settings.namespace}_"):
                await client.drop_database(name)
    finally:
        await client.close()
    bus = Bus(settings, "bench")
    connection = await aio_pika.connect(settings.rabbitmq_url)
    try:
        channel = await connection.channel()
        for queue in [q.name for q in bus.all_queues()] + list(extra_queues):
            await channel.queue_delete(queue)
        for exchange in ("events", "unrouted", "dead-letter"):
            await channel.exchange_delete(bus.names(exchange))
    finally:
        await connection.close()


# The broker ceiling ------------------------------------------------------------------


async def broker_ceiling(url: str, queue_name: str, messages: int, in_flight: int) -> Ceiling:
    """Persistent, confirmed publishes to a fresh quorum queue, consumed and acked.

    Publisher and consumer have a connection each, as two services would.
    """
    publisher = await aio_pika.connect(url)
    consumer = await aio_pika.connect(url)
    try:
        publish_channel = await publisher.channel(publisher_confirms=True)
        consume_channel = await consumer.channel()
        await consume_channel.set_qos(prefetch_count=RuntimeSettings().prefetch)
        queue = await consume_channel.declare_queue(
            queue_name, durable=True, arguments={"x-queue-type": "quorum"}
        )
        done = asyncio.Event()
        received = 0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal received
            await message.ack()
            received += 1
            if received >= messages:
                done.set()

        await queue.consume(on_message)
        body = b"x" * 600  # about an event envelope's size
        started = time.perf_counter()
        await bounded(
            (_publish(publish_channel, queue_name, body) for _ in range(messages)), in_flight
        )
        published = time.perf_counter() - started
        await done.wait()
        return Ceiling(messages, time.perf_counter() - started, published)
    finally:
        await publisher.close()
        await consumer.close()


async def _publish(channel: aio_pika.abc.AbstractChannel, queue: str, body: bytes) -> None:
    message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
    await channel.default_exchange.publish(message, routing_key=queue)


@dataclass(frozen=True)
class StoreCeiling:
    inserts: int
    seconds: float
    latencies_ms: list[float]
    grouped_seconds: float  # the same inserts through eventing.grouped

    @property
    def grouped_rate(self) -> float:
        return self.inserts / self.grouped_seconds

    @property
    def rate(self) -> float:
        return self.inserts / self.seconds

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies_ms)


async def store_ceiling(settings: RuntimeSettings, inserts: int, in_flight: int) -> StoreCeiling:
    """Commit-sized inserts, many at once, on the run's own database: one per command,
    then grouped with the concurrent ones as the event store writes them."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url)
    try:
        commits = client[settings.database_name("bench")]["commits"]
        body = {"type": "bench.Probe", "payload": {"text": "x" * 400}}

        def commit(n: int, run: str) -> dict[str, Any]:
            return {"_id": f"probe-{run}-{n}@1", "version": 1, "events": [body]}

        async def insert(n: int) -> float:
            started = time.perf_counter()
            await commits.insert_one(commit(n, "single"))
            return (time.perf_counter() - started) * 1000

        started = time.perf_counter()
        latencies = await bounded((insert(n) for n in range(inserts)), in_flight)
        seconds = time.perf_counter() - started

        grouped = GroupedInserts(commits)
        started = time.perf_counter()
        await bounded((grouped.insert(commit(n, "grouped")) for n in range(inserts)), in_flight)
        return StoreCeiling(inserts, seconds, latencies, time.perf_counter() - started)
    finally:
        await client.close()


async def bounded(work: Iterable[Awaitable[T]], limit: int) -> list[T]:
    """Await every item, at most ``limit`` at once; the results in the items' order."""
    items = enumerate(work)
    results: dict[int, T] = {}

    async def worker() -> None:
        for index, item in items:
            results[index] = await item

    await asyncio.gather(*(worker() for _ in range(limit)))
    return [results[index] for index in range(len(results))]


# Users, votings, credits -------------------------------------------------------------


async def login(http: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    response = await http.post("/auth/login", json={"email": email, "password": password})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def new_user(http: httpx.AsyncClient, namespace: str, n: int) -> User:
    email = f"voter{n}@{namespace}.example.com"
    created = await http.post(
        "/auth/signup", json={"email": email, "password": PASSWORD, "display_name": f"Voter {n}"}
    )
    created.raise_for_status()
    return User(id=str(created.json()["id"]), headers=await login(http, email, PASSWORD))


async def open_voting(http: httpx.AsyncClient, admin: dict[str, str], kind: str) -> dict[str, Any]:
    """A voting open from now for an hour, once its tile says it is open."""
    now = datetime.now(UTC)
    title = f"Bench ({kind}) {uuid.uuid4().hex[:6]}"
    created = await http.post(
        "/admin/votings",
        headers=admin,
        json={
            "title": title,
            "description": "",
            "options": ["Red", "Blue", "Green"],
            "kind": kind,
            "opens_at": now.isoformat(),
            "closes_at": (now + timedelta(hours=1)).isoformat(),
        },
    )
    if created.status_code == 503:
        # The gateway gave up waiting, which does not mean the voting was not made.
        voting = await _find_voting(http, admin, title)
    else:
        created.raise_for_status()
        voting = created.json()
    for _ in range(300):
        tile = await http.get(f"/votings/{voting['id']}", headers=admin)
        if tile.status_code == 200 and tile.json().get("status") == "open":
            return voting
        await asyncio.sleep(0.1)
    raise RuntimeError(f"voting {voting['id']} did not open")


async def _find_voting(
    http: httpx.AsyncClient, admin: dict[str, str], title: str
) -> dict[str, Any]:
    for _ in range(30):
        listed = await http.get("/votings", headers=admin)
        if listed.status_code == 200:
            for tile in listed.json():
                if tile["title"] == title:
                    return dict(tile)
        await asyncio.sleep(1)
    raise RuntimeError(f"the voting {title!r} was not created")


async def grant_credits(
    http: httpx.AsyncClient,
    admin: dict[str, str],
    users: Sequence[User],
    bus: Bus,
    limit: int,
    amount: int,
) -> str:
    """``amount`` credits for each user; says how, or raises Unavailable."""
    first = await _grant_over_http(http, admin, users[0], amount)
    if first.status_code in NOT_THERE:
        # The operator endpoint is not built yet: ask the wallet directly, so the paid
        # saga can still be measured (granting is setup, not what is timed).
        await bounded((_grant_over_bus(bus, user, amount) for user in users), limit)
        endpoint = f"POST /admin/users/{{user_id}}/credits answered {first.status_code}"
        return f"through the wallet's command queue ({endpoint})"
    await _until_granted(http, admin, users[0], amount, first)
    await bounded((_grant(http, admin, user, amount) for user in users[1:]), limit)
    return "through POST /admin/users/{user_id}/credits"


async def _grant(http: httpx.AsyncClient, admin: dict[str, str], user: User, amount: int) -> None:
    answer = await _grant_over_http(http, admin, user, amount)
    await _until_granted(http, admin, user, amount, answer)


async def _until_granted(
    http: httpx.AsyncClient,
    admin: dict[str, str],
    user: User,
    amount: int,
    answer: httpx.Response,
) -> None:
    """Until the user holds the credits. A grant the gateway gave up waiting for (503) may
    have been made all the same, so the balance decides whether to ask again."""
    for _ in range(5):
        if answer.status_code in (200, 201):
            return
        if answer.status_code != 503:
            raise Unavailable(
                f"granting credits answered {answer.status_code}: {answer.text[:200]}"
            )
        await asyncio.sleep(1)
        if (await _balance(http, user) or 0) >= amount:
            return
        answer = await _grant_over_http(http, admin, user, amount)
    raise Unavailable("the wallet did not grant credits within five tries")


async def _grant_over_http(
    http: httpx.AsyncClient, admin: dict[str, str], user: User, amount: int
) -> httpx.Response:
    return await http.post(
        f"/admin/users/{user.id}/credits",
        headers=admin,
        json={"amount": amount, "reason": "benchmark"},
    )


async def _grant_over_bus(bus: Bus, user: User, amount: int) -> None:
    command = GrantCredits(user_id=user.id, amount=amount, reason="benchmark", granted_by="bench")
    try:
        reply: Reply = await bus.request("wallet", Envelope.wrap(command), timeout=30)
    except ServiceUnavailable as error:
        raise Unavailable(f"the wallet did not answer GrantCredits: {error}") from error
    if reply.error is not None:
        raise Unavailable(f"the wallet refused GrantCredits: {reply.error.code}")


class Unavailable(Exception):
    """The paid run cannot be done with what the system offers today."""


async def _balance(http: httpx.AsyncClient, user: User) -> int | None:
    """The user's credits, or None when the gateway cannot say now."""
    me = await http.get("/me", headers=user.headers)
    return int(me.json()["credits"]) if me.status_code == 200 else None


async def balances(http: httpx.AsyncClient, users: Sequence[User], limit: int) -> list[int]:
    """Every user's credits; asks again while the wallet is too busy to answer."""

    async def balance(user: User) -> int:
        for _ in range(10):
            if (credits := await _balance(http, user)) is not None:
                return credits
            await asyncio.sleep(1)
        raise RuntimeError(f"no balance for user {user.id}")

    return await bounded((balance(user) for user in users), limit)


# Driving votes -----------------------------------------------------------------------


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


# Accounting --------------------------------------------------------------------------


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
            for event in commit["events"]:
                if event["type"] == event_type and event["payload"].get("voting_id") in voting_ids:
                    count += 1
        return count
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


# CPU time per process ------------------------------------------------------------------


class CpuMeter:
    """CPU seconds spent by every process a vote passes through, over one run.

    The services, the broker, the MongoDB-wire server (and its database server), and this
    benchmark's own client share the machine's cores; CPU time per vote in each of them
    tells where a vote's cost goes and what the machine could carry at best.
    """

    def __init__(self, system: System) -> None:
        self._system = system
        self._before: dict[str, float] = {}
        self.spent: dict[str, float] = {}

    def _groups(self) -> dict[str, list[psutil.Process]]:
        groups: dict[str, list[psutil.Process]] = {"bench client": [psutil.Process()]}
        for service in self._system.processes.values():
            if service.process is not None:
                root = psutil.Process(service.process.pid)
                group = groups.setdefault(service.service, [])
                group += [root, *root.children(recursive=True)]
        for process in psutil.process_iter(["name", "username"]):
            name = process.info["name"] or ""
            if name == "beam.smp":
                groups.setdefault("rabbitmq", []).append(process)
            elif name.startswith("ferretdb"):
                groups.setdefault("ferretdb", []).append(process)
            elif name.startswith("postgres"):
                groups.setdefault("postgresql", []).append(process)
        return groups

    def _read(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for group, processes in self._groups().items():
            for process in processes:
                with contextlib.suppress(psutil.Error):
                    times = process.cpu_times()
                    totals[group] = totals.get(group, 0.0) + times.user + times.system
        return totals

    def start(self) -> None:
        self._before = self._read()

    def stop(self) -> None:
        after = self._read()
        self.spent = {g: after[g] - self._before.get(g, 0.0) for g in after}


# Profiling ---------------------------------------------------------------------------


def profiler_command() -> list[str] | None:
    """py-spy, installed or fetched from PyPI by uvx; None when neither works."""
    candidates = []
    if found := shutil.which("py-spy"):
        candidates.append([found])
    if uvx := shutil.which("uvx"):
        candidates.append([uvx, "--from", "py-spy", "py-spy"])
    for command in candidates:
        probe = subprocess.run([*command, "--version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return command
    return None


class ProfiledProcess(ServiceProcess):
    """A service started under py-spy, which samples it for its whole life.

    Started by py-spy rather than attached to: attaching needs ptrace rights that a
    container often lacks, a child process does not.
    """

    def __init__(
        self, service: str, env: dict[str, str], output: IO[str], profiler: list[str], report: Path
    ) -> None:
        super().__init__(service, env, output)
        self.report = report
        self.command = [
            *profiler,
            # Pausing the service for every sample slows it down too much on a busy machine.
            *("record", "--rate", "100", "--nonblocking", "--format", "raw"),
            *("--output", str(report), "--", sys.executable, "-m", f"services.{service}"),
        ]

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the service; py-spy then writes its report and exits."""
        if self.process is None or not self.running:
            return
        for pid in self._service_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            for pid in _descendants(self.process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.kill()

    def _service_pids(self) -> list[int]:
        """The service's process: py-spy's child, or its grandchild under uvx."""
        assert self.process is not None
        return [
            pid
            for pid in _descendants(self.process.pid)
            if _argv(pid)[1:] == ["-m", f"services.{self.service}"]
        ]


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                found += [int(child), *_descendants(int(child))]
    return found


def _argv(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
    except OSError:
        return []


def profile(
    system: System, services: Sequence[str], output: IO[str], out_dir: Path
) -> dict[str, Path] | str:
    """Run ``services`` under py-spy: where each one's report goes, or why it cannot be."""
    command = profiler_command()
    if command is None:
        return "py-spy is not installed here and uvx could not fetch it"
    reports: dict[str, Path] = {}
    for service in services:
        reports[service] = out_dir / f"{system.env['LIVEVOTE_NAMESPACE']}-{service}.collapsed"
        system.processes[service] = ProfiledProcess(
            service, system.processes[service].env, output, command, reports[service]
        )
    return reports


# Samples that are not the votes' work, by a word anywhere in the stack ...
LEAVE_OUT = {
    "argon2": "hashing passwords (signup and login of the users)",
    "importlib._bootstrap": "importing modules at start-up",
}
# ... or by the frame on top: a thread parked in C code below it. py-spy's own idle
# detection does not work in every container, so these are left out by name.
WAITING = {
    "EpollSelector.select (selectors.py)": "waiting in the event loop (epoll)",
    "Condition.wait (threading.py)": "threads waiting on a lock",
    "_worker (concurrent/futures/thread.py)": "idle worker threads",
    # uvloop runs in C below this frame: its I/O and its waiting look the same here.
    "Runner.run (asyncio/runners.py)": "in uvloop's C code (I/O or waiting; py-spy cannot tell)",
}


@dataclass(frozen=True)
class HotSpots:
    samples: int
    left_out: Counter[str]  # samples left out, by why
    own: list[tuple[float, str]]  # (percent, function): on top of the stack
    inclusive: list[tuple[float, str]]  # (percent, function): the project's, anywhere


def hot_spots(collapsed: Path, top: int = 12) -> HotSpots:
    """The functions with the most samples in a py-spy raw (collapsed stacks) report."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    left_out: Counter[str] = Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(frame) for frame in stack.split(";")]
        why = next((why for word, why in LEAVE_OUT.items() if word in stack), None)
        if (why := why or WAITING.get(frames[-1])) is not None:
            left_out[why] += count
            continue
        own[frames[-1]] += count
        for frame in set(frames):
            if _is_project(frame):
                inclusive[frame] += count
    total = sum(own.values())

    def share(counter: Counter[str]) -> list[tuple[float, str]]:
        return [(100 * n / total, name) for name, n in counter.most_common(top)]

    return HotSpots(total, left_out, share(own), share(inclusive))


def _frame(frame: str) -> str:
    """``function (path/to/file.py:123)`` as ``function (file.py)``, lines merged."""
    match = re.match(r"(.*) \((.*?)(?::\d+)?\)$", frame)
    if match is None:
        return frame
    function, path = match.groups()
    return f"{function} ({_short_path(path)})"


def _short_path(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    root = str(ROOT) + "/"
    return path.removeprefix(root)


def _is_project(frame: str) -> bool:
    return any(f"({package}/" in frame for package in ("services", "eventing", "contracts"))


# Printing ----------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def report_runs(runs: Sequence[Run], ceiling: Ceiling) -> None:
    rows = []
    for run in runs:
        p50, p95, p99 = run.percentiles()
        accepted_rate = run.rate(run.accepted)
        rows.append(
            [
                run.name,
                len(run.samples),
                run.count(201),
                run.count(202),
                len(run.samples) - run.accepted,
                run.seconds,
                run.rate(run.count(201)),
                run.rate(run.count(202)),
                accepted_rate,
                p50,
                p95,
                p99,
                f"{accepted_rate / ceiling.rate:.3f}",
            ]
        )
    headers = ["run", "sent", "201", "202", "errors", "seconds", "201/s", "202/s"]
    headers += ["accepted/s", "p50 ms", "p95 ms", "p99 ms", "÷ ceiling"]
    print(table(headers, rows))
    for run in runs:
        for error, count in sorted(run.errors().items()):
            print(f"  {run.name}: {count:,} answered {error}")
    report_cpu(runs)


def report_cpu(runs: Sequence[Run]) -> None:
    """CPU milliseconds per accepted vote in each process, and the rate they allow."""
    measured = [run for run in runs if run.cpu and run.accepted]
    if not measured:
        return
    first = measured[0].cpu
    groups = sorted({g for run in measured for g in run.cpu}, key=lambda g: -first.get(g, 0))
    rows = []
    for group in groups:
        rows.append([group, *(1000 * run.cpu.get(group, 0.0) / run.accepted for run in measured)])
    totals = [1000 * sum(run.cpu.values()) / run.accepted for run in measured]
    rows.append(["all", *totals])
    cores = os.cpu_count() or 1
    rows.append([f"votes/s {cores} cores allow", *(cores * 1000 / t for t in totals)])
    print("\nCPU ms per accepted vote, from the first vote until all settled:")
    print(table(["process", *(run.name for run in measured)], rows))


def report_accounting(name: str, accounting: Accounting) -> None:
    print(f"\n{name}: 201+202 answers = {accounting.answered:,}")
    print(f"  votes counted = {accounting.counted:,} (from {accounting.counted_source})")
    if accounting.debited_source:
        print(
            f"  credits debited = {_maybe(accounting.debited)} (from {accounting.debited_source})"
        )
    for note in accounting.notes:
        print(f"  {note}")
    surplus = accounting.counted - accounting.answered
    if surplus > 0 and accounting.unanswered:
        print(
            f"  {surplus:,} more counted than confirmed; {accounting.unanswered:,} requests got "
            "no answer in time (503/timeout), and a vote the gateway gave up waiting for may "
            "still be counted"
        )
    elif surplus < 0:
        print(f"  {-surplus:,} accepted votes are not counted (still pending, or lost)")
    print(f"  accounted: {'yes' if accounting.ok else 'no'}")


def _maybe(value: int | None) -> str:
    return "unknown" if value is None else f"{value:,}"


# The benchmark -----------------------------------------------------------------------


@dataclass
class Bench:
    options: Options
    system: System
    settings: RuntimeSettings
    runs: list[Run] = field(default_factory=list)
    load_before: float = field(default_factory=lambda: os.getloadavg()[0])

    @property
    def ceiling_queue(self) -> str:
        return f"{self.settings.namespace}.bench-ceiling"

    @property
    def api(self) -> str:
        return f"{self.system.base_url}/api/v1"

    async def run(self) -> None:
        options = self.options
        print(f"broker ceiling: {options.ceiling_messages:,} messages ...", flush=True)
        ceiling = await broker_ceiling(
            self.settings.rabbitmq_url,
            self.ceiling_queue,
            options.ceiling_messages,
            options.ceiling_in_flight,
        )
        print(
            f"store ceiling: {options.store_inserts:,} inserts, one per command and grouped ...",
            flush=True,
        )
        store = await store_ceiling(self.settings, options.store_inserts, options.concurrency)
        limits = httpx.Limits(
            max_connections=options.concurrency,
            max_keepalive_connections=options.concurrency,
            # Idle while the votes go through aiohttp; dropped before the server's keep-alive
            # timeout (uvicorn's 5 s) closes them under a request.
            keepalive_expiry=1.0,
        )
        async with httpx.AsyncClient(base_url=self.api, limits=limits, timeout=60) as http:
            env = self.system.env
            admin = await login(http, env["LIVEVOTE_ADMIN_EMAIL"], env["LIVEVOTE_ADMIN_PASSWORD"])
            users = await self._users(http)
            free = [await open_voting(http, admin, "free") for _ in range(options.votings)]
            paid = [await open_voting(http, admin, "paid") for _ in range(options.votings)]
            voters = users[: options.votes]
            free_accounting = await self._free_run(http, admin, voters, free)
            paid_accounting = await self._paid_run(http, admin, voters, paid)
        self._report(ceiling, store, free_accounting, paid_accounting)

    async def _users(self, http: httpx.AsyncClient) -> list[User]:
        count = self.options.users
        print(f"creating {count:,} users (signup + login) ...", flush=True)
        started = time.perf_counter()
        namespace = self.settings.namespace
        users = await bounded(
            (new_user(http, namespace, n) for n in range(count)), min(self.options.concurrency, 32)
        )
        seconds = time.perf_counter() - started
        print(f"  {count:,} users in {seconds:.1f} s ({count / seconds:.1f}/s)", flush=True)
        return users

    async def _free_run(
        self,
        http: httpx.AsyncClient,
        admin: dict[str, str],
        voters: list[User],
        votings: list[dict[str, Any]],
    ) -> Accounting:
        print(
            f"free run: {len(voters) * len(votings):,} votes in {len(votings)} voting(s), "
            f"{self.options.concurrency} in flight",
            flush=True,
        )
        meter = CpuMeter(self.system)
        meter.start()
        run = await drive(self.api, "free", voters, votings, self.options.concurrency)
        self.runs.append(run)
        counted, source = await settled_count(
            lambda: counted_votes(http, admin, self.settings, votings),
            run.accepted,
            self.options.settle_seconds,
        )
        meter.stop()
        run.cpu = meter.spent
        return Accounting.of(run, counted, source)

    async def _paid_run(
        self,
        http: httpx.AsyncClient,
        admin: dict[str, str],
        voters: list[User],
        votings: list[dict[str, Any]],
    ) -> Accounting | str:
        """The paid run's accounting, or why there is no paid run."""
        bus = Bus(self.settings, "bench")
        await bus.start()
        try:
            how = await grant_credits(
                http, admin, voters, bus, self.options.concurrency, len(votings)
            )
        except Unavailable as error:
            return str(error)
        finally:
            await bus.stop()
        print(f"  granted {len(votings)} credit(s) each to {len(voters):,} users {how}", flush=True)
        before = await balances(http, voters, self.options.concurrency)
        print(
            f"paid run: {len(voters) * len(votings):,} votes in {len(votings)} voting(s), "
            f"{self.options.concurrency} in flight",
            flush=True,
        )
        meter = CpuMeter(self.system)
        meter.start()
        run = await drive(self.api, "paid", voters, votings, self.options.concurrency)
        self.runs.append(run)
        if run.accepted == 0:
            return f"no paid vote was accepted: {dict(run.errors())}"
        accounting = await self._paid_accounting(http, admin, votings, run, meter)
        run.cpu = meter.spent
        if isinstance(accounting, Accounting):
            after = await balances(http, voters, self.options.concurrency)
            accounting.debited = sum(before) - sum(after)
            accounting.debited_source = "users' balance drops, GET /me"
        return accounting

    async def _paid_accounting(
        self,
        http: httpx.AsyncClient,
        admin: dict[str, str],
        votings: list[dict[str, Any]],
        run: Run,
        meter: CpuMeter,
    ) -> Accounting | str:
        """Waits until the votes are counted and their credits debited, then stops the
        meter (reading the balances afterwards is not the votes' cost)."""
        counted, source = await settled_count(
            lambda: counted_votes(http, admin, self.settings, votings),
            run.accepted,
            self.options.settle_seconds,
        )
        if counted == 0:
            meter.stop()
            return (
                f"{run.count(202):,} paid votes answered 202 and none was counted within "
                f"{self.options.settle_seconds:.0f} s: the paid-vote saga did not finish"
            )

        # A vote is counted before the wallet debits its credit: wait for the debits too.
        async def debits() -> tuple[int, str]:
            found = await count_events(
                self.settings, "wallet", "account-", CreditsDebited.type, {v["id"] for v in votings}
            )
            return found, "the wallet's store"

        in_store, _ = await settled_count(debits, counted, self.options.settle_seconds)
        meter.stop()
        accounting = Accounting.of(run, counted, source)
        accounting.notes.append(f"CreditsDebited events in the wallet's store: {in_store:,}")
        return accounting

    def _report(
        self, ceiling: Ceiling, store: StoreCeiling, free: Accounting, paid: Accounting | str
    ) -> None:
        options = self.options
        print(
            f"\nlivevote bench: {options.users:,} users, {options.votes:,} votes in each of "
            f"{options.votings} voting(s) per kind, "
            f"concurrency {options.concurrency}, {options.replicas} process(es) of each "
            f"service, {os.cpu_count()} CPUs; 1-minute load average "
            f"{self.load_before:.1f} at the start, {os.getloadavg()[0]:.1f} now\n"
        )
        report_runs(self.runs, ceiling)
        print(
            f"\nbroker ceiling (aio-pika, persistent + confirmed, quorum queue, "
            f"{options.ceiling_in_flight} publishes in flight): {ceiling.rate:,.0f} messages/s "
            f"end to end ({ceiling.messages:,} in {ceiling.seconds:.2f} s; publishes confirmed "
            f"at {ceiling.messages / ceiling.publish_seconds:,.0f}/s)"
        )
        print("÷ ceiling = accepted votes/s (201 + 202) divided by the ceiling's messages/s")
        print(
            f"store (the MongoDB-wire server, {options.concurrency} inserts in flight): "
            f"{store.rate:,.0f} commit inserts/s one per command, median "
            f"{store.median_ms:.1f} ms each; {store.grouped_rate:,.0f}/s grouped as the "
            f"event store writes them ({store.inserts:,} each way)"
        )
        report_accounting("free", free)
        if isinstance(paid, str):
            print(f"\npaid run unavailable: {paid}")
        else:
            report_accounting("paid", paid)


def report_profiles(reports: dict[str, Path]) -> None:
    for service, path in reports.items():
        if not path.exists() or not path.stat().st_size:
            print(f"\nprofile of {service}: py-spy wrote no report (see the services' output)")
            continue
        spots = hot_spots(path)
        print(f"\nprofile of {service}, its whole run: {path}")
        print(f"  {spots.samples:,} samples at work; left out:")
        for why, samples in spots.left_out.most_common():
            print(f"    {samples:,} {why}")
        print("  most samples on top of the stack (self):")
        for percent, name in spots.own:
            print(f"    {percent:5.1f}%  {name}")
        print("  the project's functions with the most samples anywhere in the stack:")
        for percent, name in spots.inclusive:
            print(f"    {percent:5.1f}%  {name}")


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    options.out_dir.mkdir(parents=True, exist_ok=True)
    log_path = options.out_dir / f"{namespace}.log"
    env = bench_env(namespace)
    settings = runtime_settings(env)
    with local_stack(), log_path.open("w") as log:
        print(f"services' output: {log_path}", flush=True)
        system = System(env, output=log, replicas=options.replicas)
        profiles = profile(system, options.profile, log, options.out_dir) if options.profile else {}
        bench = Bench(options, system, settings)
        try:
            system.start()
            asyncio.run(bench.run())
        finally:
            system.stop()
            if not options.keep:
                asyncio.run(drop_namespace(settings, [bench.ceiling_queue]))
    if isinstance(profiles, str):
        print(f"\nprofile: {profiles}")
    else:
        report_profiles(profiles)
    return 0


if __name__ == "__main__":
    sys.exit(main())
