"""Loads aggregates by replaying their stream and saves their new events in one commit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from contracts import Envelope
from eventing.aggregate import Aggregate
from eventing.store import Commit, EventStore

A = TypeVar("A", bound=Aggregate)


class Repository(Generic[A]):
    def __init__(self, store: EventStore, factory: Callable[[str], A]) -> None:
        self._store = store
        self._factory = factory

    async def get(self, aggregate_id: str) -> A | None:
        """The aggregate rebuilt from its events, or None when its stream is empty."""
        aggregate = self._factory(aggregate_id)
        events = await self._store.read(aggregate.stream)
        if not events:
            return None
        for event in events:
            aggregate.apply(event.message())
            aggregate.version = event.version or aggregate.version + 1
        return aggregate

    async def save(
        self, aggregate: A, cause: Envelope | None = None, *, correlation_id: str | None = None
    ) -> Commit:
        """Append the aggregate's pending events in one commit.

        They continue ``cause``'s conversation when there is a message behind them, else
        the conversation named by ``correlation_id`` (an HTTP request's, say), else a new
        one. Raises :class:`eventing.store.ConcurrencyConflict` when the stream moved.
        """
        envelopes = [
            cause.caused(event)
            if cause is not None
            else Envelope.wrap(event, correlation_id=correlation_id)
            for event in aggregate.pending
        ]
        commit = await self._store.append(aggregate.stream, aggregate.version, envelopes)
        aggregate.version = commit.version
        aggregate.pending.clear()
        return commit
