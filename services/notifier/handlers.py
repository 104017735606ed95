"""Recipients: the notifier learns of users and their preferences from the gateway."""

from __future__ import annotations

from collections.abc import Callable

from contracts import Envelope
from contracts.gateway import PreferencesChanged, UserRegistered
from eventing.handlers import HandlerMap
from eventing.logs import get_logger
from eventing.projection import show_newest
from eventing.repository import Repository
from eventing.store import EventStore
from services.notifier.domain import Preferences, Recipient, Source
from services.notifier.store import Recipients

log = get_logger(__name__)


class NotifierHandlers:
    def __init__(self, store: EventStore, recipients: Recipients) -> None:
        self._store = store
        self._repository = Repository(store, Recipient)
        self._recipients = recipients

    def events(self) -> HandlerMap[None]:
        return (
            HandlerMap[None]()
            .on(UserRegistered, self.user_registered)
            .on(PreferencesChanged, self.preferences_changed)
        )

    async def user_registered(self, event: UserRegistered, envelope: Envelope) -> None:
        if await self._change(event.user_id, envelope, Recipient.add):
            log.info("recipient added", user_id=event.user_id)

    async def preferences_changed(self, event: PreferencesChanged, envelope: Envelope) -> None:
        preferences = Preferences(
            reminders=event.reminders, updates=event.updates, show_paid=event.show_paid
        )
        source = Source.of(envelope)
        if await self._change(
            event.user_id, envelope, lambda r: r.set_preferences(preferences, source)
        ):
            log.info("preferences applied", user_id=event.user_id)
        else:
            log.info(
                "preferences change ignored: a newer one is applied",
                user_id=event.user_id,
                source_version=source.version,
            )

    async def _change(
        self, user_id: str, cause: Envelope, decide: Callable[[Recipient], object]
    ) -> bool:
        """Apply ``decide`` to the recipient and store the outcome; True when it changed."""
        changed = await self._repository.change(user_id, decide, cause=cause)
        assert changed is not None  # a recipient is created on first use
        recipient, _, saved = changed
        # Even when nothing changed: a redelivery after a crash between the append and
        # this write is what brings the read model up to date.
        await self._project(recipient)
        return saved

    async def _project(self, recipient: Recipient) -> None:
        """Write the recipient to the read model, and make sure no older state is left there."""
        if not await show_newest(
            self._store,
            self._repository,
            recipient,
            self._recipients.put,
            self._recipients.version,
        ):
            log.warning("recipient read model still behind its stream", user_id=recipient.user_id)
