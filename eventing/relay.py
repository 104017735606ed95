"""The outbox relay: publishes commits, then marks them published.

A service with read models of its own events has each commit shown in them before it
is published (:meth:`OutboxRelay.project_before_publishing`), so a commit whose entry is
gone is both published and shown.

Private events (no routing key) are marked without being published, and so are the
events no process hears (``contracts.topology.UNPUBLISHED_EVENTS``). Publishing happens
before marking, so a crash in between publishes the commit again (at-least-once);
consumers are idempotent (an aggregate knows the messages that caused its events, a read
model the version it shows). Each process publishes its own appends; only the
replica holding the relay lease sweeps for commits a dead process left behind (on a
server whose conditional updates are not atomic, FerretDB, two may overlap for a moment:
that only publishes some events twice, which consumers deduplicate).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts import Envelope
from contracts.topology import UNHURRIED_EVENTS, UNPUBLISHED_EVENTS
from eventing.logs import get_logger
from eventing.metrics import OUTBOX_WAITING
from eventing.store import Commit, EventStore

log = get_logger(__name__)

# Publishes events of one routing key as one message (eventing.bus.Bus.publish_events).
Publish = Callable[[Sequence[Envelope]], Awaitable[None]]
# The routing key an event is published with (eventing.bus.Bus.route): what it groups by.
Route = Callable[[Envelope], str]
# Shows a commit in the service's own read models (see OutboxRelay.project_before_publishing).
Project = Callable[[Commit], Awaitable[None]]

# Events in one message at most.
EVENTS_PER_MESSAGE = 100


class Lease:
    """A named lease in MongoDB, held by one owner at a time until it expires."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]], name: str, ttl: timedelta) -> None:
        self._leases = database["leases"]
        self._name = name
        self._ttl = ttl
        self.owner = uuid.uuid4().hex

    async def acquire(self) -> bool:
        """Take or renew the lease; False while another owner holds it."""
        now = datetime.now(UTC)
        try:
            await self._leases.update_one(
                {"_id": self._name, "$or": [{"owner": self.owner}, {"expires_at": {"$lt": now}}]},
                {"$set": {"owner": self.owner, "expires_at": now + self._ttl}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return True

    async def release(self) -> None:
        await self._leases.delete_one({"_id": self._name, "owner": self.owner})


class OutboxRelay:
    """Publishes what this process appends at once; sweeps for what nobody published.

    Commits appended through this process's store are queued here and published in
    append order as soon as they are committed, then marked. A process that dies in
    between leaves commits unpublished: the replica holding the lease sweeps the store
    for commits older than ``grace_seconds`` every ``sweep_seconds`` and publishes them.

    A commit whose events no request waits for (``UNHURRIED_EVENTS``: a paid vote's debit)
    waits up to ``linger_seconds`` for others like it, so that they go as one message and
    their consumer decides on them together: they all go once the first has waited that
    long, or at once, ahead of it, when a commit of one of their streams comes that does
    not wait (a stream's events go out in its order).
    """

    def __init__(
        self,
        store: EventStore,
        publish: Publish,
        lease: Lease,
        *,
        route: Route,
        batch_size: int = 500,
        sweep_seconds: float = 5.0,
        grace_seconds: float = 2.0,
        linger_seconds: float = 0.0,
    ) -> None:
        self._store = store
        self._publish = publish
        self._route = route
        self._lease = lease
        self._batch_size = batch_size
        self._sweep_seconds = sweep_seconds
        self._grace = timedelta(seconds=grace_seconds)
        self._appended: deque[Commit] = deque()
        self._linger = linger_seconds
        self._unhurried: list[Commit] = []
        self._unhurried_streams: set[str] = set()
        self._unhurried_due: float | None = None
        self._wake = asyncio.Event()
        self._project: Project | None = None
        store.on_commit(self._queue)

    def project_before_publishing(self, project: Project) -> None:
        """Have every commit shown in the service's own read models before it is
        published, and so before its outbox entry goes.

        The writer shows its change at once (read your writes), and ``project`` finds it
        shown; a commit whose writer died first is in the outbox still, and the sweep
        shows it here. So a service needs no copy of its own events from the broker to
        keep its read models whole.
        """
        self._project = project

    def _queue(self, commit: Commit) -> None:
        OUTBOX_WAITING.inc()
        if self._linger and _unhurried(commit):
            if not self._unhurried:
                self._unhurried_due = asyncio.get_running_loop().time() + self._linger
                self._wake.set()  # the relay's next wait ends when these are due
            self._unhurried.append(commit)
            self._unhurried_streams.add(commit.stream)
            return
        if commit.stream in self._unhurried_streams:
            self._release_unhurried()
        self._appended.append(commit)
        self._wake.set()

    def _release_unhurried(self) -> None:
        """The commits lingering join the line, ahead of whatever comes next."""
        self._appended.extend(self._unhurried)
        self._unhurried.clear()
        self._unhurried_streams.clear()
        self._unhurried_due = None

    async def publish_appended(self) -> int:
        """Publish one batch of this process's own commits; returns how many."""
        batch = [
            self._appended.popleft() for _ in range(min(len(self._appended), self._batch_size))
        ]
        try:
            await self._publish_commits(batch, swept=False)
        except BaseException:
            self._appended.extendleft(reversed(batch))  # first in line for the retry
            raise
        OUTBOX_WAITING.dec(len(batch))
        return len(batch)

    async def relay_once(self, grace: timedelta | None = None) -> int:
        """Sweep: publish one batch of commits left unpublished; returns how many."""
        before = datetime.now(UTC) - grace if grace else None
        commits = await self._store.unpublished(self._batch_size, committed_before=before)
        await self._publish_commits(commits, swept=True)
        # Before the next sweep reads the outbox, or it would hand these out again.
        await self._store.marks_landed()
        return len(commits)

    async def _publish_commits(self, commits: list[Commit], *, swept: bool) -> None:
        if not commits:
            return
        if self._project is not None:
            await _project_in_stream_order(commits, self._project)
        await self._publish_in_stream_order(commits)
        self._store.mark_published(commits, swept=swept)

    async def _publish_in_stream_order(self, commits: list[Commit]) -> None:
        # Streams are independent, so they publish concurrently (confirms overlap);
        # within one stream, events go out in their order. The streams with one event
        # here (nearly all) have theirs published together, one message per routing key.
        lone_events: dict[str, list[Envelope]] = defaultdict(list)
        in_order: list[list[Envelope]] = []
        for stream_commits in _by_stream(commits):
            events = [e for commit in stream_commits for e in commit.events if _heard(e)]
            if len(events) == 1:
                lone_events[self._route(events[0])].append(events[0])
            elif events:
                in_order.append(events)
        batches = [
            events[start : start + EVENTS_PER_MESSAGE]
            for events in lone_events.values()
            for start in range(0, len(events), EVENTS_PER_MESSAGE)
        ]

        async def publish_stream(events: list[Envelope]) -> None:
            for event in events:
                await self._publish([event])

        await asyncio.gather(
            *(self._publish(batch) for batch in batches),
            *(publish_stream(events) for events in in_order),
        )

    async def flush(self) -> None:
        """Publish everything this process has appended (before it stops)."""
        self._release_unhurried()
        while self._appended:
            await self.publish_appended()
        await self._store.marks_landed()

    async def run(self) -> None:
        """Relay until cancelled: own commits as they come, a sweep now and then."""
        failures = 0
        next_sweep = 0.0
        loop = asyncio.get_running_loop()
        try:
            while True:
                if self._unhurried_due is not None and loop.time() >= self._unhurried_due:
                    self._release_unhurried()
                try:
                    if self._appended:
                        await self.publish_appended()
                    elif loop.time() >= next_sweep:
                        if await self._lease.acquire():
                            while await self.relay_once(self._grace) >= self._batch_size:
                                pass
                        next_sweep = loop.time() + self._sweep_seconds
                    failures = 0
                except Exception as error:  # noqa: BLE001 - store or broker down: retry later
                    failures += 1
                    log.warning(
                        "relay batch failed; retrying", error=repr(error), failures=failures
                    )
                    await asyncio.sleep(min(0.05 * 2**failures, 2.0))
                if self._appended:
                    continue
                self._wake.clear()
                wake_at = min(next_sweep, self._unhurried_due or next_sweep)
                # asyncio.timeout, not wait_for: on Python 3.11, wait_for swallows a cancel
                # that arrives as the wake-up does, and the stopping process waits forever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(wake_at - loop.time(), 0)):
                        await self._wake.wait()
        finally:
            with contextlib.suppress(Exception):
                await self._lease.release()


def _heard(event: Envelope) -> bool:
    """Whether the event is published: public, and some process hears it."""
    routing_key = event.routing_key
    return bool(routing_key) and routing_key not in UNPUBLISHED_EVENTS


def _unhurried(commit: Commit) -> bool:
    """Whether the commit publishes events and no request waits for any of them."""
    heard = [event.routing_key for event in commit.events if _heard(event)]
    return bool(heard) and all(key in UNHURRIED_EVENTS for key in heard)


def _by_stream(commits: list[Commit]) -> list[list[Commit]]:
    """The commits of each stream, in the stream's order."""
    by_stream: dict[str, list[Commit]] = defaultdict(list)
    for commit in sorted(commits, key=lambda commit: commit.version):
        by_stream[commit.stream].append(commit)
    return list(by_stream.values())


async def _project_in_stream_order(commits: list[Commit], project: Project) -> None:
    """Each stream's commits in order, streams at once."""

    async def project_stream(stream_commits: list[Commit]) -> None:
        for commit in stream_commits:
            await project(commit)

    await asyncio.gather(*(project_stream(c) for c in _by_stream(commits)))
