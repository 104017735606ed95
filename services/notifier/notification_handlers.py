"""The inbox (queries and read marks from the gateway), updates the operator sends, and
who is online (the gateways' announcements)."""

from __future__ import annotations

from contracts import Envelope, ErrorCode, Reply
from contracts.gateway import SocketsOnline
from contracts.notifier import (
    CampaignDeliveries,
    CountUpdateAudience,
    GetUpdate,
    ListCampaigns,
    ListNotifications,
    MarkAllNotificationsRead,
    MarkNotificationRead,
    PublishUpdate,
    UpdateAudience,
    UpdatePublished,
)
from eventing.clock import Clock
from eventing.handlers import HandlerMap
from eventing.logs import get_logger
from eventing.store import ConcurrencyConflict, EventStore
from services.notifier.campaign import Content
from services.notifier.campaigns import Campaigns
from services.notifier.fanout import Fanout
from services.notifier.inbox import BadCursor, InboxStore
from services.notifier.presence import Presence
from services.notifier.store import Recipients

log = get_logger(__name__)


def update_campaign(update_id: str) -> str:
    return f"update:{update_id}"


class NotificationHandlers:
    def __init__(
        self,
        store: EventStore,
        recipients: Recipients,
        inbox: InboxStore,
        campaigns: Campaigns,
        presence: Presence,
        fanout: Fanout,
        clock: Clock,
    ) -> None:
        self._store = store
        self._recipients = recipients
        self._inbox = inbox
        self._campaigns = campaigns
        self._presence = presence
        self._fanout = fanout
        self._clock = clock

    def commands(self) -> HandlerMap[Reply]:
        return (
            HandlerMap[Reply]()
            .on(ListNotifications, self.list_notifications)
            .on(MarkNotificationRead, self.mark_read)
            .on(MarkAllNotificationsRead, self.mark_all_read)
            .on(PublishUpdate, self.publish_update)
            .on(GetUpdate, self.get_update)
            .on(CountUpdateAudience, self.count_update_audience)
            .on(ListCampaigns, self.list_campaigns)
        )

    def events(self) -> HandlerMap[None]:
        return (
            HandlerMap[None]()
            .on(UpdatePublished, self.update_published)
            .on(SocketsOnline, self.sockets_online)
        )

    # The inbox ----------------------------------------------------------------------

    async def list_notifications(self, query: ListNotifications, _: Envelope) -> Reply:
        try:
            page = await self._inbox.page(query.user_id, query.cursor, query.limit)
        except BadCursor:
            return Reply.fail(ErrorCode.VALIDATION_ERROR, "this cursor is not one we gave out")
        return Reply.ok(page.model_dump(mode="json"))

    async def mark_read(self, command: MarkNotificationRead, _: Envelope) -> Reply:
        entry = await self._inbox.mark_read(command.user_id, command.notification_id)
        if entry is None:
            return Reply.fail(ErrorCode.NOT_FOUND, "you have no such notification")
        return Reply.ok(entry.model_dump(mode="json"))

    async def mark_all_read(self, command: MarkAllNotificationsRead, _: Envelope) -> Reply:
        marked = await self._inbox.mark_all_read(command.user_id)
        return Reply.ok({"marked": marked})

    # Updates ------------------------------------------------------------------------

    async def publish_update(self, command: PublishUpdate, envelope: Envelope) -> Reply:
        """Decide the audience now (who consents at this moment), then deliver it from the
        ``UpdatePublished`` event: a notifier that dies in between delivers it when it
        comes back. A command delivered again finds its update decided."""
        update_id = envelope.message_id
        content = Content("update", command.title, command.body, command.voting_id)

        async def audience() -> list[str]:
            return [user async for user in self._recipients.update_recipients()]

        campaign = await self._campaigns.decide(
            update_campaign(update_id), content, audience, self._clock.now()
        )
        published = UpdatePublished(
            update_id=update_id,
            title=command.title,
            body=command.body,
            voting_id=command.voting_id,
            audience=campaign.audience,
            published_by=command.published_by,
        )
        try:
            await self._store.append(f"update-{update_id}", 0, [envelope.caused(published)])
            log.info("update published", update_id=update_id, audience=campaign.audience)
        except ConcurrencyConflict:
            pass  # published before: this is the command again
        return Reply.ok({"id": update_id, "audience": campaign.audience})

    async def count_update_audience(self, _: CountUpdateAudience, __: Envelope) -> Reply:
        audience = await self._recipients.count_update_recipients()
        return Reply.ok(UpdateAudience(audience=audience).model_dump())

    async def get_update(self, query: GetUpdate, _: Envelope) -> Reply:
        delivery = await self._campaigns.delivery(update_campaign(query.update_id))
        if delivery is None:
            return Reply.fail(ErrorCode.NOT_FOUND, "no such update", update_id=query.update_id)
        return Reply.ok(delivery.model_dump(mode="json") | {"id": query.update_id})

    async def list_campaigns(self, query: ListCampaigns, _: Envelope) -> Reply:
        deliveries = await self._campaigns.created_between(query.since, query.until)
        return Reply.ok(CampaignDeliveries(items=deliveries).model_dump(mode="json"))

    async def update_published(self, event: UpdatePublished, envelope: Envelope) -> None:
        campaign = await self._campaigns.get(update_campaign(event.update_id))
        if campaign is None:
            log.error("an update was published without its audience", update_id=event.update_id)
            return
        await self._fanout.deliver(campaign, envelope)

    # Presence -----------------------------------------------------------------------

    async def sockets_online(self, event: SocketsOnline, _: Envelope) -> None:
        await self._presence.announced(event)
