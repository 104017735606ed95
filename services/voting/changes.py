"""How every voting handler changes state: through a repository, projected at once.

One :class:`Changes` per process holds the repositories of the service's aggregates and
the cache of recently read votings. Saving through it keeps two promises the handlers
rely on: the read models show a change as soon as the handler returns (the outbox relay
projects each commit again before publishing it, which finds it shown, and shows the
commits of a process that died before it could), and this process stops relying on a
voting's cached rules the moment it changes them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cachetools import TTLCache

from contracts import Envelope
from eventing.aggregate import Aggregate
from eventing.repository import A, Repository
from eventing.store import Commit, EventStore
from services.voting.domain import Calendar, Registration, Vote, Voting
from services.voting.store import VotingReadModels


class RecentVotings:
    """Votings as last loaded, for the vote path.

    Every vote needs its voting's rules, and reading the voting's stream for each of
    thousands of votes a second is the cost avoided here. An entry is dropped as soon as
    any process of the service sees that voting change (a broadcast of its events), is
    never older than ``ttl`` seconds, and at most ``size`` are kept (the least recently
    used go first).
    """

    def __init__(self, repository: Repository[Voting], ttl: float, size: int) -> None:
        self._repository = repository
        self._entries: TTLCache[str, Voting] = TTLCache(size, ttl, timer=time.monotonic)

    async def get(self, voting_id: str) -> Voting | None:
        voting = self._entries.get(voting_id)
        if voting is not None:
            return voting
        voting = await self._repository.get(voting_id)
        if voting is not None:
            self._entries[voting_id] = voting
        return voting

    def forget(self, voting_id: str) -> None:
        self._entries.pop(voting_id, None)

    def __contains__(self, voting_id: object) -> bool:
        return voting_id in self._entries

    def __len__(self) -> int:
        return len(self._entries)


class Changes:
    def __init__(
        self,
        store: EventStore,
        read_models: VotingReadModels,
        cache_ttl: float,
        cache_size: int,
    ) -> None:
        self.store = store
        self.read_models = read_models
        self.votings = Repository(store, Voting)
        self.votes = Repository(store, Vote)
        self.registrations = Repository(store, Registration)
        self.calendars = Repository(store, Calendar)
        self.recent = RecentVotings(self.votings, cache_ttl, cache_size)

    async def save(self, repository: Repository[A], aggregate: A, cause: Envelope) -> Commit | None:
        """Save the aggregate's pending events (if any) and project them."""
        if not aggregate.pending:
            return None
        with self.read_models.showing(aggregate.id):
            commit = await repository.save(aggregate, cause=cause)
            await self._saved(aggregate)
        return commit

    async def change(
        self,
        repository: Repository[A],
        aggregate_id: str,
        cause: Envelope,
        change: Callable[[A], None],
        create: bool = False,
        loaded: A | None = None,
    ) -> A | None:
        """Load (or take ``loaded``), change, save and project; on a lost race reload and
        decide again. The aggregate, or None when it does not exist (and ``create`` is
        false)."""
        with self.read_models.showing(aggregate_id):
            changed = await repository.change(
                aggregate_id, change, cause=cause, create=create, loaded=loaded
            )
            if changed is None:
                return None
            aggregate, _, saved = changed
            if saved:
                await self._saved(aggregate)
        return aggregate

    async def _saved(self, aggregate: Aggregate) -> None:
        if isinstance(aggregate, Voting):
            # This process's votes see the change at once; others when its broadcast comes.
            self.recent.forget(aggregate.id)
        await self.read_models.write(aggregate)
