"""The voting service's handlers, by what they do: a voting's life (lifecycle), taking
part and the paid-vote saga (votes), and what is only read (queries)."""

from __future__ import annotations

from contracts import Reply
from contracts.voting import UNANSWERED_OUTCOME
from eventing.clock import Clock
from eventing.handlers import HandlerMap
from eventing.store import EventStore
from services.voting.changes import Changes
from services.voting.lifecycle import Lifecycle
from services.voting.queries import Queries
from services.voting.settings import VotingSettings
from services.voting.store import VotingReadModels
from services.voting.votes import AnswerShard, Ballots, Broadcast


class VotingHandlers:
    def __init__(
        self,
        store: EventStore,
        read_models: VotingReadModels,
        clock: Clock,
        settings: VotingSettings,
        broadcast: Broadcast,
        answer_shard: AnswerShard,
    ) -> None:
        self._changes = Changes(
            store, read_models, settings.voting_cache_seconds, settings.voting_cache_size
        )
        self.recent = self._changes.recent
        self.lifecycle = Lifecycle(self._changes, clock, settings)
        self.ballots = Ballots(self._changes, clock, settings, broadcast, answer_shard)
        self.queries = Queries(self._changes, clock)

    def commands(self) -> HandlerMap[Reply]:
        return (
            self.lifecycle.commands().merge(self.ballots.commands()).merge(self.queries.commands())
        )

    def events(self) -> HandlerMap[None]:
        return self.lifecycle.events().merge(self.ballots.events())

    def broadcasts(self) -> HandlerMap[None]:
        """Events every process of the service must see, not one of them."""
        return self.lifecycle.broadcasts().merge(self.ballots.broadcasts())

    def broadcast_bindings(self) -> list[str]:
        return [
            *(event.binding() for event in self.lifecycle.broadcasts()),
            UNANSWERED_OUTCOME,
        ]
