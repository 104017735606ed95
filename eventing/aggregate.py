"""A small aggregate API: state rebuilt from events, new events recorded by ``trigger``.

Pure: no I/O here. :class:`eventing.repository.Repository` loads and saves aggregates.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import ClassVar, Self

from contracts import Envelope, Message


class Aggregate:
    #: Streams of this aggregate are named ``f"{stream_prefix}-{id}"``.
    stream_prefix: ClassVar[str]
    #: A load that replays this many events or more leaves a snapshot
    #: (:mod:`eventing.snapshots`); 0 for aggregates whose streams stay short.
    snapshot_after: ClassVar[int] = 0

    def __init__(self, aggregate_id: str) -> None:
        self.id = aggregate_id
        self.version = 0
        self.pending: list[Message] = []
        # Ids of the messages (commands, events) that caused this aggregate's events: a
        # message delivered again finds itself here.
        self.causes: set[str] = set()

    def copy(self) -> Self:
        """An independent copy: changing either leaves the other as it was. A deep copy;
        an aggregate whose state grows long and holds immutable values overrides this with
        :meth:`_shallow_copy` and fresh containers of its own."""
        return copy.deepcopy(self)

    def _shallow_copy(self) -> Self:
        """A copy with its own pending events and causes, every other attribute shared."""
        twin = copy.copy(self)
        twin.pending = list(self.pending)
        twin.causes = set(self.causes)
        return twin

    @property
    def reads_whole(self) -> bool:
        """Whether its stream is read in one query, every commit at once: it has no
        snapshots, or is still short of its snapshot threshold. A longer stream is read
        from its snapshot on, a commit per round trip."""
        return not self.snapshot_after or self.version < self.snapshot_after

    @classmethod
    def stream_name(cls, aggregate_id: str) -> str:
        return f"{cls.stream_prefix}-{aggregate_id}"

    @property
    def stream(self) -> str:
        return self.stream_name(self.id)

    def trigger(self, event: Message) -> None:
        """Record a new event: apply it now, append it when the aggregate is saved."""
        self.apply(event)
        self.pending.append(event)

    def replay(self, history: Iterable[Envelope]) -> None:
        """Rebuild state from stored events, in stream order."""
        for envelope in history:
            self.apply(envelope.message())
            self.version = envelope.version or self.version + 1
            if envelope.causation_id is not None:
                self.causes.add(envelope.causation_id)

    def apply(self, event: Message) -> None:
        """Change state by one event; every event of the stream passes through here."""
        raise NotImplementedError
