"""The voting service's handlers, by what they do: a voting's life (lifecycle), taking
part and the paid-vote saga (votes), and what is only read (queries)."""

from __future__ import annotations

from contracts import Envelope, Message, Reply
from contracts.voting import (
    VoteCast,
    VoteRejected,
    VoteRequested,
    VoterRegistered,
    VotingCancelled,
    VotingClosed,
    VotingOpened,
    VotingRescheduled,
    VotingScheduled,
)
from eventing.clock import Clock
from eventing.handlers import HandlerMap
from eventing.store import EventStore
from services.voting.changes import Changes
from services.voting.lifecycle import Lifecycle
from services.voting.queries import Queries
from services.voting.settings import VotingSettings
from services.voting.store import VotingReadModels
from services.voting.votes import Ballots

# Our own events come back from the broker too: the projection that a crash after the
# append cannot skip (the inline one is only the fast path).
_OWN_EVENTS: tuple[type[Message], ...] = (
    VotingScheduled,
    VotingRescheduled,
    VotingCancelled,
    VotingOpened,
    VotingClosed,
    VoterRegistered,
    VoteRequested,
    VoteCast,
    VoteRejected,
)


class VotingHandlers:
    def __init__(
        self,
        store: EventStore,
        read_models: VotingReadModels,
        clock: Clock,
        settings: VotingSettings,
    ) -> None:
        self._changes = Changes(
            store, read_models, settings.voting_cache_seconds, settings.voting_cache_size
        )
        self.recent = self._changes.recent
        self.lifecycle = Lifecycle(self._changes, clock, settings)
        self.ballots = Ballots(self._changes, clock, settings)
        self.queries = Queries(self._changes, clock)

    def commands(self) -> HandlerMap[Reply]:
        return (
            self.lifecycle.commands().merge(self.ballots.commands()).merge(self.queries.commands())
        )

    def events(self) -> HandlerMap[None]:
        handlers = self.lifecycle.events().merge(self.ballots.events())
        for own in _OWN_EVENTS:
            handlers.on(own, self.project)
        return handlers

    def broadcasts(self) -> HandlerMap[None]:
        """Events every process of the service must see, not one of them."""
        return self.lifecycle.broadcasts().merge(self.ballots.broadcasts())

    def broadcast_bindings(self) -> list[str]:
        return [
            *(event.binding() for event in self.lifecycle.broadcasts()),
            # A free vote is answered at once; only paid ones wait for an outcome.
            VoteCast.binding("paid"),
            VoteRejected.binding(),
        ]

    async def project(self, _: Message, envelope: Envelope) -> None:
        await self._changes.read_models.apply(envelope)
