"""The notifier process: the service runtime with the notifier's handlers and read models."""

from __future__ import annotations

from eventing.clock import Clock, SystemClock
from eventing.service import ServiceRuntime
from services.notifier.device_handlers import DeviceHandlers
from services.notifier.handlers import NotifierHandlers
from services.notifier.settings import NotifierSettings
from services.notifier.store import DeviceBook, Recipients


class NotifierService(ServiceRuntime):
    def __init__(
        self, settings: NotifierSettings | None = None, clock: Clock | None = None
    ) -> None:
        settings = settings or NotifierSettings()
        super().__init__("notifier", settings)
        clock = clock or SystemClock()
        self.recipients = Recipients(self.db)
        self.devices = DeviceHandlers(self.store, DeviceBook(self.db), clock)
        self.serve(
            commands=self.devices.commands(),
            events=NotifierHandlers(self.store, self.recipients).events(),
        )

    async def start(self) -> None:
        await self.recipients.ensure_indexes()
        await super().start()
