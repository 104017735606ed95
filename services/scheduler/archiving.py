"""The daily archive: once a day, the day before is written to the store as CSV files.

At the archive's time of day (``LIVEVOTE_ARCHIVE_TIME``, 00:15 UTC by default) the
scheduler asks voting for the votings that ended that day with their counts, the wallet
for every credit change of the day (a page at a time, however many there are), and the
notifier for the day's campaigns with their delivery; each service answers from its own
store. The files are written chunk by chunk as the answers come, and the day is
recorded last (``archive_store``).

Written once, whatever the number of replicas: a replica writes only while it holds the
``archive-writer`` lease, renewed as it goes, and skips a day already recorded. The lease
only spares the others the work: FerretDB's conditional updates are not atomic, so two
replicas may both think they hold it now and then, and then both write, each into chunks
of its own, and the unique ``_id`` of the day's document lets one of them record the day.
A run cut short (stopped, its lease lost, a service not answering) deletes what it wrote;
one killed leaves chunks no day names, which the run that records the day deletes.

Catch-up: the loop keeps the next day to write, from the first day to archive on (the
``LIVEVOTE_ARCHIVE_FIRST_DAY`` setting, else the day the first scheduler ever started).
Every tick the days due by now are written in order, so the days missed while no
scheduler ran are written as soon as one runs again, oldest first.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TypeVar

from pydantic import BaseModel

from contracts import Envelope, Message
from contracts.notifier import CampaignDeliveries, ListCampaigns
from contracts.voting import ClosedVotings, ListClosedVotings
from contracts.wallet import CreditChanges, ListCreditChanges
from eventing.bus import Bus
from eventing.clock import Clock
from eventing.logs import correlation, get_logger
from eventing.relay import Lease
from services.scheduler.archive_days import ArchiveDay, Calendar
from services.scheduler.archive_files import (
    LEDGER,
    LEDGER_HEADER,
    NOTIFICATIONS,
    NOTIFICATIONS_HEADER,
    VOTING_HEADER,
    Chunker,
    Row,
    csv_lines,
    ledger_row,
    notification_rows,
    voting_file,
    voting_rows,
)
from services.scheduler.archive_store import ArchiveStore, StoredFile

log = get_logger(__name__)

A = TypeVar("A", bound=BaseModel)

# Days written per round at most, so that a long catch-up gives the lease back in between.
DUE_BATCH = 30
# Credit changes asked for at once.
LEDGER_PAGE = 2000
# How long after a failed round the next one is tried.
RETRY_SECONDS = 5.0


class ArchiveQueryFailed(Exception):
    """A service answered the archive's question with an error."""


class LeaseLost(Exception):
    """Another replica took the writer's lease: it writes the day now."""


class ArchiveWriter:
    """Writes one day's files, then records the day."""

    def __init__(
        self, store: ArchiveStore, bus: Bus, clock: Clock, keep: Callable[[], Awaitable[bool]]
    ) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._keep = keep

    async def write(self, day: ArchiveDay) -> bool:
        """Write the day; False when another writer recorded it first."""
        run = Run(day, uuid.uuid4().hex[:12])
        with correlation(run.correlation_id, day=day.name):
            try:
                files = await self._files(run)
            except BaseException:
                # Cut short (stopping, the lease lost, a service down): what it wrote
                # names no day, so it goes now rather than at the next day's sweep.
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._store.discard(day, run.id, run.started))
                raise
            recorded = await self._store.complete(day, run.id, files, self._clock.now())
            if recorded:
                log.info("day archived", files=len(files), rows=sum(f.rows for f in files))
            else:
                log.info("day archived by another writer first; this run's files deleted")
            return recorded

    async def _files(self, run: Run) -> list[StoredFile]:
        day = run.day
        closed = await self._ask(
            run, "voting", ListClosedVotings(since=day.starts_at, until=day.ends_at), ClosedVotings
        )
        files = [
            await self._file(run, voting_file(v.voting_id), VOTING_HEADER, _once(voting_rows(v)))
            for v in sorted(closed.items, key=lambda voting: voting.voting_id)
        ]
        files.append(await self._file(run, LEDGER, LEDGER_HEADER, self._ledger(run)))
        campaigns = await self._ask(
            run,
            "notifier",
            ListCampaigns(since=day.starts_at, until=day.ends_at),
            CampaignDeliveries,
        )
        deliveries = _once(notification_rows(campaigns.items))
        files.append(await self._file(run, NOTIFICATIONS, NOTIFICATIONS_HEADER, deliveries))
        return sorted(files, key=lambda file: file.name)

    async def _ledger(self, run: Run) -> AsyncIterator[list[Row]]:
        after: str | None = None
        while True:
            query = ListCreditChanges(
                since=run.day.starts_at, until=run.day.ends_at, after=after, limit=LEDGER_PAGE
            )
            page = await self._ask(run, "wallet", query, CreditChanges)
            yield [ledger_row(change) for change in page.items]
            if page.next_cursor is None:
                return
            after = page.next_cursor

    async def _file(
        self, run: Run, name: str, header: Row, batches: AsyncIterator[list[Row]]
    ) -> StoredFile:
        """Write a file from its rows, chunk by chunk as they come."""
        run.started.append(name)
        chunker = Chunker()
        stored = 0

        async def put(chunks: list[bytes]) -> None:
            nonlocal stored
            await self._store.put_chunks(run.day, name, run.id, stored, chunks)
            stored += len(chunks)

        await put(chunker.add(csv_lines([header]).encode()))
        rows = 0
        async for batch in batches:
            rows += len(batch)
            await put(chunker.add(csv_lines(batch).encode()))
            if not await self._keep():
                raise LeaseLost(run.day.name)
        await put(chunker.finish())
        return StoredFile(name, run.id, chunker.length, rows, chunker.sha256, stored)

    async def _ask(self, run: Run, service: str, query: Message, answer: type[A]) -> A:
        envelope = Envelope.wrap(query, correlation_id=run.correlation_id)
        reply = await self._bus.request(service, envelope)
        if reply.error is not None:
            raise ArchiveQueryFailed(f"{service} answered {query.type}: {reply.error.message}")
        return answer.model_validate(reply.result)


@dataclass
class Run:
    """One attempt at writing a day: its files' chunks are named after it."""

    day: ArchiveDay
    id: str
    # The files it has begun to write.
    started: list[str] = field(default_factory=list)

    @property
    def correlation_id(self) -> str:
        return f"archive-{self.day.name}-{self.id}"


async def _once(rows: list[Row]) -> AsyncIterator[list[Row]]:
    yield rows


class ArchiveLoop:
    """Every tick, writes the days whose archive is due, while holding the lease."""

    def __init__(
        self,
        writer: ArchiveWriter,
        store: ArchiveStore,
        calendar: Calendar,
        clock: Clock,
        lease: Lease,
        *,
        first_day: date | None,
        tick: timedelta,
    ) -> None:
        self._writer = writer
        self._store = store
        self._calendar = calendar
        self._clock = clock
        self._lease = lease
        self._first_day = first_day
        self._tick = tick
        # The first day this loop has not seen written; None until it is looked up.
        self._next: ArchiveDay | None = None

    async def write_due(self) -> int:
        """Write the days due now that no one has written; how many this loop wrote."""
        now = self._clock.now()
        if self._next is None:
            self._next = await self._first()
        if self._calendar.due_at(self._next) > now or not await self._lease.acquire():
            return 0
        written = 0
        try:
            for day in self._calendar.due(self._next, now, DUE_BATCH):
                if not await self._store.written(day) and await self._writer.write(day):
                    written += 1
                self._next = self._calendar.following(day)
        finally:
            await self._lease.release()
        return written

    async def _first(self) -> ArchiveDay:
        if self._first_day is not None:
            return self._calendar.day_of_date(self._first_day)
        today = self._calendar.day_of(self._clock.now())
        return self._calendar.day_of(await self._store.first_day(today.starts_at))

    async def run(self) -> None:
        """Write due days every tick until cancelled."""
        while True:
            pause = self._tick.total_seconds()
            try:
                await self.write_due()
            except Exception as error:  # noqa: BLE001 - a service or the store is down: retried
                log.warning("writing the archive failed; retrying", error=repr(error))
                pause = max(pause, RETRY_SECONDS)
            await asyncio.sleep(pause)
