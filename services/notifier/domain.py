"""Recipients and their notification preferences. Pure: no I/O.

A recipient is the stream ``recipient-<user id>``. The gateway owns a user's preferences
and announces each change; the notifier keeps the newest one it has seen. Events may
arrive out of order (a redelivery after a failure comes late), so every applied change
remembers which gateway event it came from, and an older one is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from contracts import Envelope, Message
from contracts.notifier import RecipientAdded
from eventing.aggregate import Aggregate


class Preferences(BaseModel):
    """What a user wants to receive; the defaults are what a new user gets."""

    model_config = ConfigDict(frozen=True)

    # Both are opt-in (updates are marketing): nobody receives them without asking.
    reminders: bool = False
    updates: bool = False
    show_paid: bool = True

    def wants_reminder(self, *, paid: bool) -> bool:
        """Reminders go to users who want them, and not about votings they hide."""
        return self.reminders and (self.show_paid or not paid)


DEFAULT_PREFERENCES = Preferences()


@dataclass(frozen=True, slots=True)
class Source:
    """Where a preferences change came from: the gateway event's stream position and time."""

    stream: str | None
    version: int | None
    occurred_at: datetime

    @classmethod
    def of(cls, envelope: Envelope) -> Source:
        return cls(envelope.stream, envelope.version, envelope.occurred_at)

    def supersedes(self, applied: Source | None) -> bool:
        """True when a change from here is newer than the one from ``applied``."""
        if applied is None:
            return True
        if (
            self.stream is not None
            and self.stream == applied.stream
            and self.version is not None
            and applied.version is not None
        ):
            # Positions in one stream are the gateway's own order, immune to clock skew.
            return self.version > applied.version
        return self.occurred_at > applied.occurred_at


class RecipientPreferencesSet(Message):
    """Private: the preferences now applied to a recipient, and the change they came from."""

    type = "notifier.RecipientPreferencesSet"

    user_id: str
    reminders: bool
    updates: bool
    show_paid: bool
    source_stream: str | None
    source_version: int | None
    source_occurred_at: datetime


class UnknownRecipientEvent(Exception):
    def __init__(self, event: Message) -> None:
        super().__init__(f"a recipient does not apply {event.type}")


class Recipient(Aggregate):
    stream_prefix = "recipient"

    def __init__(self, user_id: str) -> None:
        super().__init__(user_id)
        self.added = False
        self.preferences = DEFAULT_PREFERENCES
        self.preferences_source: Source | None = None

    @property
    def user_id(self) -> str:
        return self.id

    def add(self) -> None:
        """Start addressing the user; adding a known recipient changes nothing."""
        if not self.added:
            self.trigger(RecipientAdded(user_id=self.id))

    def set_preferences(self, preferences: Preferences, source: Source) -> bool:
        """Apply a change unless a newer (or the same) one was applied; True when applied."""
        if not source.supersedes(self.preferences_source):
            return False
        self.trigger(
            RecipientPreferencesSet(
                user_id=self.id,
                **preferences.model_dump(),
                source_stream=source.stream,
                source_version=source.version,
                source_occurred_at=source.occurred_at,
            )
        )
        return True

    def apply(self, event: Message) -> None:
        match event:
            case RecipientAdded():
                self.added = True
            case RecipientPreferencesSet():
                self.preferences = Preferences(
                    reminders=event.reminders, updates=event.updates, show_paid=event.show_paid
                )
                self.preferences_source = Source(
                    event.source_stream, event.source_version, event.source_occurred_at
                )
            case _:
                raise UnknownRecipientEvent(event)
