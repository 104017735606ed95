"""Messages of the notifier service."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, StringConstraints

from contracts.envelope import Message


class RecipientAdded(Message):
    """The notifier knows a user and will address notifications to them."""

    type = "notifier.RecipientAdded"
    routing_key = "notifier.recipient_added"

    user_id: str


# Devices: the phones (and browsers) a user's pushes go to ---------------------------

Platform = Literal["android", "ios", "web"]
# An FCM registration token: opaque, some 150-250 characters today; room to grow.
DeviceToken = Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^\S+$")]


class RegisterDevice(Message):
    """Push the user's notifications to this device (again, if it was registered)."""

    type = "notifier.RegisterDevice"

    user_id: str
    token: DeviceToken
    platform: Platform


class RemoveDevice(Message):
    type = "notifier.RemoveDevice"

    user_id: str
    token: DeviceToken


class ListDevices(Message):
    type = "notifier.ListDevices"

    user_id: str


class Device(BaseModel):
    token: str
    platform: Platform
    created_at: datetime


class Devices(BaseModel):
    """The reply to ListDevices (and to a registration): the user's devices, oldest first."""

    items: list[Device]
