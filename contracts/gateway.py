"""Events the gateway emits about users."""

from datetime import datetime
from typing import Literal

from contracts.envelope import Message

Role = Literal["user", "admin"]


class UserRegistered(Message):
    type = "gateway.UserRegistered"
    routing_key = "gateway.user_registered"

    user_id: str
    email: str
    display_name: str
    role: Role


class PreferencesChanged(Message):
    """A user's notification and display preferences, as they are now (all three)."""

    type = "gateway.PreferencesChanged"
    routing_key = "gateway.preferences_changed"

    user_id: str
    reminders: bool
    updates: bool
    show_paid: bool


class SocketsOnline(Message):
    """Who holds a WebSocket on one gateway process now (all of them, every time).

    Each gateway process announces it every few seconds and soon after a socket opens or
    closes; the notifier counts a user online while an announcement naming them is the
    newest of its gateway and not past ``alive_until`` (a killed gateway stops
    announcing, and its users count as offline once that time passes).
    """

    type = "gateway.SocketsOnline"
    routing_key = "gateway.sockets_online"

    gateway_id: str
    user_ids: list[str]
    sent_at: datetime
    alive_until: datetime
