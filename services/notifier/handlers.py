"""The notifier's message handlers: recipients come from registrations and preference changes."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from contracts import Envelope, Message
from contracts.gateway import PreferencesChanged, UserRegistered
from eventing.bus import EventHandler
from eventing.logs import get_logger
from eventing.projection import show_newest
from eventing.repository import Repository
from eventing.store import ConcurrencyConflict, EventStore
from services.notifier.domain import Preferences, Recipient, Source
from services.notifier.store import Recipients

log = get_logger(__name__)

# Appends that lose a race reload and decide again; this many losses in a row is not a
# race any more, so the message goes back to the broker.
MAX_CONFLICTS = 20


class NotifierHandlers:
    def __init__(self, store: EventStore, recipients: Recipients) -> None:
        self._store = store
        self._repository = Repository(store, Recipient)
        self._recipients = recipients

    def events(self) -> Mapping[type[Message], EventHandler]:
        return {
            UserRegistered: self.user_registered,
            PreferencesChanged: self.preferences_changed,
        }

    async def user_registered(self, event: Message, envelope: Envelope) -> None:
        assert isinstance(event, UserRegistered)
        if await self._change(event.user_id, envelope, Recipient.add):
            log.info("recipient added", user_id=event.user_id)

    async def preferences_changed(self, event: Message, envelope: Envelope) -> None:
        assert isinstance(event, PreferencesChanged)
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
        for _ in range(MAX_CONFLICTS):
            recipient = await self._repository.get(user_id) or Recipient(user_id)
            decide(recipient)
            changed = bool(recipient.pending)
            if changed:
                try:
                    await self._repository.save(recipient, cause=cause)
                except ConcurrencyConflict:
                    continue
            # Even when nothing changed: a redelivery after a crash between the append and
            # this write is what brings the read model up to date.
            await self._project(recipient)
            return changed
        raise ConcurrencyConflict(Recipient.stream_name(user_id), recipient.version)

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
