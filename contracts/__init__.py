"""The messages livevote's services exchange, shared by all of them.

Every message travels in an :class:`~contracts.envelope.Envelope`; the payload classes
below name their own type, routing key and schema version.
"""

# Importing the message modules registers their types for parse_payload.
from contracts import gateway, notifier, scheduler, system, voting, wallet  # noqa: F401
from contracts.envelope import Envelope, Message, message_types, parse_payload
from contracts.errors import ErrorCode, ErrorInfo, Reply

__all__ = [
    "Envelope",
    "ErrorCode",
    "ErrorInfo",
    "Message",
    "Reply",
    "message_types",
    "parse_payload",
]
