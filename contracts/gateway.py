"""Events the gateway emits about users."""

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
