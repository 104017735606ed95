"""Events of the notifier service."""

from contracts.envelope import Message


class RecipientAdded(Message):
    """The notifier knows a user and will address notifications to them."""

    type = "notifier.RecipientAdded"
    routing_key = "notifier.recipient_added"

    user_id: str
