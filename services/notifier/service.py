"""The notifier process: the service runtime with the notifier's handlers and read models."""

from __future__ import annotations

from eventing.clock import Clock, SystemClock
from eventing.logs import get_logger
from eventing.service import ServiceRuntime
from services.notifier.attendance import Attendance
from services.notifier.campaigns import Campaigns
from services.notifier.device_handlers import DeviceHandlers
from services.notifier.fanout import Fanout
from services.notifier.handlers import NotifierHandlers
from services.notifier.inbox import InboxStore
from services.notifier.notification_handlers import NotificationHandlers
from services.notifier.presence import Presence
from services.notifier.push import FcmPusher
from services.notifier.reminders import Reminders
from services.notifier.settings import NotifierSettings
from services.notifier.store import DeviceBook, Recipients
from services.notifier.voters import CountedVotes

log = get_logger(__name__)


class NotifierService(ServiceRuntime):
    def __init__(
        self,
        settings: NotifierSettings | None = None,
        clock: Clock | None = None,
        pusher: FcmPusher | None = None,
    ) -> None:
        settings = settings or NotifierSettings()
        super().__init__("notifier", settings)
        self.notifier_settings = settings
        clock = clock or SystemClock()
        self.recipients = Recipients(self.db)
        self.inbox = InboxStore(self.db)
        self.campaigns = Campaigns(self.db)
        self.pusher = pusher or FcmPusher(settings)
        devices = DeviceBook(self.db)
        self.devices = DeviceHandlers(self.store, devices, clock)
        presence = Presence(self.db, clock)
        fanout = Fanout(
            self.campaigns,
            self.inbox,
            presence,
            devices,
            self.devices,
            self.pusher,
            self.bus.publish_events,
        )
        notifications = NotificationHandlers(
            self.store, self.recipients, self.inbox, self.campaigns, presence, fanout, clock
        )
        self.attendance = Attendance(self.db)
        reminders = Reminders(
            self.recipients,
            self.attendance,
            CountedVotes(self.bus, clock),
            self.campaigns,
            fanout,
            clock,
        )
        self.serve(
            commands=self.devices.commands().merge(notifications.commands()),
            events=NotifierHandlers(self.store, self.recipients)
            .events()
            .merge(notifications.events())
            .merge(reminders.events()),
        )

    async def start(self) -> None:
        if not self.notifier_settings.fcm_configured:
            log.warning(
                "neither LIVEVOTE_FCM_CREDENTIALS_FILE nor LIVEVOTE_FCM_URL is set: pushes are "
                "recorded as failed; inbox and in-app delivery go on"
            )
        await self.recipients.ensure_indexes()
        await self.inbox.prepare()
        await self.attendance.ensure_indexes()
        await self.campaigns.ensure_indexes()
        await super().start()

    async def stop(self) -> None:
        await super().stop()
        await self.pusher.close()
