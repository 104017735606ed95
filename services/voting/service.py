"""The voting process: the service runtime with the voting handlers and read models."""

from __future__ import annotations

from eventing.clock import Clock, SystemClock
from eventing.service import ServiceRuntime
from services.voting.handlers import VotingHandlers
from services.voting.settings import VotingSettings
from services.voting.store import VotingReadModels


class VotingService(ServiceRuntime):
    def __init__(self, settings: VotingSettings | None = None, clock: Clock | None = None) -> None:
        settings = settings or VotingSettings()
        super().__init__("voting", settings)
        self.read_models = VotingReadModels(self.db, self.store)
        self.handlers = VotingHandlers(
            self.store,
            self.read_models,
            clock or SystemClock(),
            settings,
            self.bus.broadcast,
            lambda: self.bus.preferred_saga_shard,
        )
        self.relay.project_before_publishing(self.read_models.project)
        self.serve(commands=self.handlers.commands(), events=self.handlers.events())
        self.bus.consume_broadcast(self.handlers.broadcasts(), self.handlers.broadcast_bindings())

    async def start(self) -> None:
        await self.read_models.ensure_indexes()
        await super().start()
