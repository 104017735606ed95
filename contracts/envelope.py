"""The envelope every message travels in, and the registry of message types."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field

_registry: dict[str, type[Message]] = {}


class Message(BaseModel):
    """Base of every event, command and query payload.

    Subclasses set ``type`` (unique across the system, e.g. ``voting.VoteCast``),
    ``schema_version`` and, for public events, the ``routing_key`` they are published
    with. An event without a routing key is private: it stays in its service's store
    (a password hash, say) and the outbox relay never publishes it.

    An event that sets ``routed_by`` (a payload field) is published with that field's
    value appended to its routing key (``voting.vote_cast.paid``), so a consumer binds
    only to the values it handles instead of receiving every one to drop most.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    routing_key: ClassVar[str] = ""
    routed_by: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        message_type = cls.__dict__.get("type")
        if message_type is not None:
            if message_type in _registry and _registry[message_type] is not cls:
                raise TypeError(f"message type {message_type!r} is defined twice")
            _registry[message_type] = cls

    @classmethod
    def binding(cls, value: str | None = None) -> str:
        """The routing-key pattern that binds to this event: every one of it, or (for an
        event routed by a field) only those whose field is ``value``."""
        if cls.routed_by is None:
            return cls.routing_key
        return f"{cls.routing_key}.{value or '*'}"


def message_types() -> dict[str, type[Message]]:
    """Every message type known to the contracts, by name."""
    return dict(_registry)


def new_id() -> str:
    return uuid.uuid4().hex


def utc_now() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """Metadata every message carries, around its payload."""

    model_config = ConfigDict(frozen=True)

    message_id: str = Field(default_factory=new_id)
    type: str
    schema_version: int
    occurred_at: datetime = Field(default_factory=utc_now)
    correlation_id: str
    causation_id: str | None = None
    # Set on events that were appended to an event stream.
    stream: str | None = None
    version: int | None = None
    payload: dict[str, Any]

    @classmethod
    def wrap(
        cls,
        message: Message,
        *,
        message_id: str | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        occurred_at: datetime | None = None,
    ) -> Self:
        """Wrap a payload; a message with no correlation id starts a new conversation."""
        message_id = message_id or new_id()
        return cls(
            message_id=message_id,
            type=message.type,
            schema_version=message.schema_version,
            occurred_at=occurred_at or utc_now(),
            correlation_id=correlation_id or message_id,
            causation_id=causation_id,
            payload=message.model_dump(mode="json"),
        )

    def caused(self, message: Message, *, occurred_at: datetime | None = None) -> Envelope:
        """A message sent because of this one: same conversation, caused by this message."""
        return Envelope.wrap(
            message,
            correlation_id=self.correlation_id,
            causation_id=self.message_id,
            occurred_at=occurred_at,
        )

    @property
    def routing_key(self) -> str:
        message = message_class(self.type)
        if message.routed_by is None:
            return message.routing_key
        return f"{message.routing_key}.{self.payload[message.routed_by]}"

    @property
    def is_public(self) -> bool:
        return bool(self.routing_key)

    def message(self) -> Message:
        return parse_payload(self.type, self.payload)


def message_class(message_type: str) -> type[Message]:
    try:
        return _registry[message_type]
    except KeyError:
        raise UnknownMessageType(message_type) from None


def parse_payload(message_type: str, payload: dict[str, Any]) -> Message:
    return message_class(message_type).model_validate(payload)


class UnknownMessageType(LookupError):
    def __init__(self, message_type: str) -> None:
        super().__init__(f"unknown message type {message_type!r}")
        self.message_type = message_type
