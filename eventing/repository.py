"""Loads aggregates by replaying their stream and saves their new events in one commit."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import Generic, TypeVar

from contracts import Envelope
from eventing.aggregate import Aggregate
from eventing.logs import get_logger
from eventing.settings import cache_bounds
from eventing.snapshots import Snapshots
from eventing.store import Commit, ConcurrencyConflict, EventStore

log = get_logger(__name__)

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")

# A change that loses a race reloads and decides again; this many losses in a row is not
# a race any more.
CHANGE_ATTEMPTS = 20


class Repository(Generic[A]):
    def __init__(
        self,
        store: EventStore,
        factory: Callable[[str], A],
        *,
        remember: int | None = None,
    ) -> None:
        self._store = store
        self._snapshots = Snapshots(store.database)
        self._factory = factory
        self._remember = cache_bounds().remembered_aggregates if remember is None else remember
        self._remembered: OrderedDict[str, A] = OrderedDict()
        self._changing: dict[str, tuple[asyncio.Lock, int]] = {}

    async def get(self, aggregate_id: str, *, short: bool = False) -> A | None:
        """The aggregate rebuilt from its events (after its snapshot, when it has one), or
        None when its stream is empty.

        ``short``: the stream was shorter than the aggregate's snapshot threshold a moment
        ago (a change lost its race on it), so it is read whole at once, where looking for
        its snapshot first would cost a round trip for nothing.
        """
        aggregate = self._factory(aggregate_id)
        if aggregate.snapshot_after and not short:
            aggregate = await self._snapshots.load(aggregate) or aggregate
        events = await self._store.read(aggregate.stream, after=aggregate.version)
        if not events and aggregate.version == 0:
            return None
        aggregate.replay(events)
        if aggregate.snapshot_after and len(events) >= aggregate.snapshot_after:
            await self._snapshot(aggregate)
        return aggregate

    async def get_or_new(self, aggregate_id: str, *, short: bool = False) -> A:
        """The aggregate, or a new one (version 0) when its stream is empty."""
        return await self.get(aggregate_id, short=short) or self._factory(aggregate_id)

    async def save(
        self, aggregate: A, cause: Envelope | None = None, *, correlation_id: str | None = None
    ) -> Commit:
        """Append the aggregate's pending events in one commit.

        They continue ``cause``'s conversation when there is a message behind them, else
        the conversation named by ``correlation_id`` (an HTTP request's, say), else a new
        one. Raises :class:`eventing.store.ConcurrencyConflict` when the stream moved.
        The saved aggregate is remembered for the next :meth:`change`.
        """
        envelopes = [
            cause.caused(event)
            if cause is not None
            else Envelope.wrap(event, correlation_id=correlation_id)
            for event in aggregate.pending
        ]
        before = aggregate.version
        commit = await self._store.append(aggregate.stream, before, envelopes)
        aggregate.version = commit.version
        aggregate.pending.clear()
        if cause is not None:
            aggregate.causes.add(cause.message_id)
        self._keep(aggregate)
        every = aggregate.snapshot_after
        if every and commit.version // every > before // every:
            # Loads write snapshots too, but a process that remembers what it saved never
            # loads it: an account only its process changes (saga affinity) would keep its
            # first snapshot, and its next load, after a restart say, would read every
            # commit since, one round trip each.
            await self._snapshot(aggregate)
        return commit

    async def _snapshot(self, aggregate: A) -> None:
        """Snapshot the aggregate as it stands; a snapshot is only a cache, so the load or
        the commit that led here stands whatever happens to it."""
        try:
            await self._snapshots.save(aggregate)
        except Exception as error:  # noqa: BLE001 - the store is down: the next one will do
            log.warning("snapshot not written", stream=aggregate.stream, error=repr(error))

    async def change(
        self,
        aggregate_id: str,
        decide: Callable[[A], T],
        *,
        cause: Envelope | None = None,
        correlation_id: str | None = None,
        create: bool = True,
        loaded: A | None = None,
    ) -> tuple[A, T, bool] | None:
        """Decide on the aggregate as it stands (``loaded``, else as this process last saved
        it, else read) and save what that produced; on a lost race, reload and decide again.

        Returns the aggregate, what ``decide`` returned, and whether anything was saved;
        None when the aggregate does not exist and ``create`` is false.

        An aggregate remembered from this process's last save may be out of date (another
        process appended since). A decision that appends is then refused by the store as a
        lost race; one that appends nothing, or raises, is checked against the stream
        having moved on, and taken again on the stream as it is.

        Changes of one aggregate in this process take turns: each starts from what the
        one before saved, where racing would cost every loser a reread of the stream.
        """
        async with self._turn(aggregate_id):
            return await self._change(
                aggregate_id, decide, cause, correlation_id, create=create, loaded=loaded
            )

    @contextlib.asynccontextmanager
    async def _turn(self, aggregate_id: str) -> AsyncIterator[None]:
        lock, waiting = self._changing.get(aggregate_id) or (asyncio.Lock(), 0)
        self._changing[aggregate_id] = (lock, waiting + 1)
        try:
            async with lock:
                yield
        finally:
            lock, waiting = self._changing[aggregate_id]
            if waiting == 1:
                del self._changing[aggregate_id]
            else:
                self._changing[aggregate_id] = (lock, waiting - 1)

    async def _change(
        self,
        aggregate_id: str,
        decide: Callable[[A], T],
        cause: Envelope | None,
        correlation_id: str | None,
        *,
        create: bool,
        loaded: A | None,
    ) -> tuple[A, T, bool] | None:
        short = False  # the stream was short when this change last saw it
        for attempt in range(CHANGE_ATTEMPTS):
            fresh = attempt == 0 and loaded is not None
            aggregate = loaded if fresh else self._recall(aggregate_id)
            if aggregate is None:
                load = self.get_or_new if create else self.get
                aggregate = await load(aggregate_id, short=short)
                if aggregate is None:
                    return None
                fresh = True
                # As read, to catch up with should this change lose a race.
                self._keep(aggregate)
            short = aggregate.reads_whole
            try:
                outcome = decide(aggregate)
            except Exception:
                if not fresh and await self._caught_up(aggregate_id):
                    continue
                raise
            if not aggregate.pending:
                if not fresh and await self._caught_up(aggregate_id):
                    continue
                self._keep(aggregate)
                return aggregate, outcome, False
            try:
                await self.save(aggregate, cause, correlation_id=correlation_id)
            except ConcurrencyConflict:
                if await self._caught_up(aggregate_id):
                    continue
                # Spread the retries of writers that keep colliding on a busy stream.
                await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
                continue
            return aggregate, outcome, True
        raise ConcurrencyConflict(self._factory(aggregate_id).stream, -1)

    def _recall(self, aggregate_id: str) -> A | None:
        """A copy of the aggregate as this process last saw it. The remembered one stays as
        it was: a change that loses a race catches it up with the commits it missed."""
        remembered = self._remembered.get(aggregate_id)
        if remembered is None:
            return None
        self._remembered.move_to_end(aggregate_id)
        return remembered.copy()

    def _keep(self, aggregate: A) -> None:
        if self._remember <= 0:
            return
        # A copy: the caller may go on using (and changing) the aggregate it was given.
        self._remembered[aggregate.id] = aggregate.copy()
        self._remembered.move_to_end(aggregate.id)
        while len(self._remembered) > self._remember:
            self._remembered.popitem(last=False)

    async def _caught_up(self, aggregate_id: str) -> bool:
        """Whether the remembered aggregate was behind its stream, now replayed up to its
        end: a short stream read whole (:attr:`Aggregate.reads_whole`), a longer one from
        the remembered version on (usually a commit or two), where reading the aggregate
        again would read its snapshot and every commit since."""
        remembered = self._remembered.get(aggregate_id)
        if remembered is None:
            return False
        if remembered.reads_whole:
            missed = (await self._store.read(remembered.stream))[remembered.version :]
        else:
            missed = await self._store.read(remembered.stream, after=remembered.version)
        remembered.replay(missed)
        return bool(missed)
