"""Delivering a campaign: chunk by chunk, to the inbox, in the app, and to phones.

For each chunk not yet sent: every user's inbox entry (once, whatever happens again);
users online get it over their WebSocket (``NotificationCreated`` to the gateways),
users offline get a push on each device; devices FCM reports dead are removed; then the
chunk is marked sent with its counts. A notifier that dies mid-delivery has its event
redelivered and starts again at the first chunk not marked sent: only the chunk it was
sending when it died is pushed again (at most 500 users' devices).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from contracts import Envelope
from contracts.notifier import Notification, NotificationCreated
from eventing.logs import get_logger
from eventing.metrics import NOTIFICATIONS
from services.notifier.campaign import Campaign, notification_id, push_of
from services.notifier.campaigns import Campaigns, Chunk, ChunkOutcome
from services.notifier.device_handlers import DeviceHandlers
from services.notifier.inbox import InboxStore
from services.notifier.presence import Presence
from services.notifier.push import FcmPusher, Push
from services.notifier.store import DeviceBook

log = get_logger(__name__)


PublishInApp = Callable[[Sequence[Envelope]], Awaitable[None]]


class Fanout:
    def __init__(
        self,
        campaigns: Campaigns,
        inbox: InboxStore,
        presence: Presence,
        devices: DeviceBook,
        device_handlers: DeviceHandlers,
        pusher: FcmPusher,
        publish_in_app: PublishInApp,
    ) -> None:
        self._campaigns = campaigns
        self._inbox = inbox
        self._presence = presence
        self._devices = devices
        self._device_handlers = device_handlers
        self._pusher = pusher
        self._publish_in_app = publish_in_app

    async def deliver(self, campaign: Campaign, cause: Envelope) -> None:
        # One chunk at a time: its 500 pushes already go out at once; two calls at once
        # slowed firebase-admin's HTTP client down (bench-fanout), and every chunk in
        # flight is one a crash may push twice.
        for number in range(campaign.chunks):
            chunk = await self._campaigns.chunk(campaign.id, number)
            if not chunk.sent:
                outcome = await self._deliver_chunk(campaign, chunk, cause)
                await self._campaigns.sent(campaign.id, number, outcome)
                _count(campaign, outcome)
        log.info("campaign delivered", campaign=campaign.id, audience=campaign.audience)

    async def _deliver_chunk(
        self, campaign: Campaign, chunk: Chunk, cause: Envelope
    ) -> ChunkOutcome:
        await self._inbox.add(campaign, chunk.users)
        online = await self._presence.online(chunk.users)
        offline = [user for user in chunk.users if user not in online]
        if online:
            await self._tell_online(campaign, sorted(online), cause)
        devices = await asyncio.gather(*(self._devices.of(user) for user in offline))
        owners: list[str] = []
        pushes: list[Push] = []
        for user, own in zip(offline, devices, strict=True):
            notification = notification_id(campaign.id, campaign.created_at, user)
            for device in own:
                owners.append(user)
                pushes.append(push_of(campaign.content, notification, device.token))
        sent = await self._pusher.send(pushes)
        dead = [
            (owner, s.push.token) for owner, s in zip(owners, sent, strict=True) if s.fate == "dead"
        ]
        for owner, token in dead:
            await self._device_handlers.remove_dead(owner, token)
        failed = [s for s in sent if s.fate == "failed"]
        if failed:
            log.warning(
                "pushes failed", campaign=campaign.id, failed=len(failed), error=failed[0].error
            )
        return ChunkOutcome(
            inboxed=len(chunk.users),
            in_app=len(online),
            pushed=sum(s.fate == "delivered" for s in sent),
            failed=len(failed),
            tokens_removed=len(dead),
            without_device=sum(not own for own in devices),
        )

    async def _tell_online(self, campaign: Campaign, users: list[str], cause: Envelope) -> None:
        content = campaign.content
        await self._publish_in_app(
            [
                cause.caused(
                    NotificationCreated(
                        user_id=user,
                        notification=Notification(
                            id=notification_id(campaign.id, campaign.created_at, user),
                            kind=content.kind,
                            title=content.title,
                            body=content.body,
                            voting_id=content.voting_id,
                            created_at=campaign.created_at,
                            read=False,
                        ),
                    )
                )
                for user in users
            ]
        )


def _count(campaign: Campaign, outcome: ChunkOutcome) -> None:
    kind = campaign.content.kind
    for channel, count in (
        ("inbox", outcome.inboxed),
        ("in_app", outcome.in_app),
        ("push", outcome.pushed),
        ("push_failed", outcome.failed),
        ("no_device", outcome.without_device),
    ):
        NOTIFICATIONS.labels(kind, channel).inc(count)
