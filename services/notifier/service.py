"""The notifier process: the service runtime with the notifier's handlers and read model."""

from __future__ import annotations

from eventing.service import ServiceRuntime
from eventing.settings import RuntimeSettings
from services.notifier.handlers import NotifierHandlers
from services.notifier.store import Recipients


class NotifierService(ServiceRuntime):
    def __init__(self, settings: RuntimeSettings | None = None) -> None:
        super().__init__("notifier", settings)
        self.recipients = Recipients(self.db)
        self.serve(events=NotifierHandlers(self.store, self.recipients).events())

    async def start(self) -> None:
        await self.recipients.ensure_indexes()
        await super().start()
