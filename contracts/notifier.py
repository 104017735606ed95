"""Messages of the notifier service."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from contracts.envelope import Message


class RecipientAdded(Message):
    """The notifier knows a user and will address notifications to them."""

    type = "notifier.RecipientAdded"
    routing_key = "notifier.recipient_added"

    user_id: str


# Devices: the phones (and browsers) a user's pushes go to ---------------------------

Platform = Literal["android", "ios", "web"]
# An FCM registration token: opaque, some 150-250 characters today; room to grow. Its
# alphabet is FCM's (letters, digits, `-_:` and `.`), which also keeps it one unambiguous
# path segment: with `%` allowed, `a%FFb` would reach the server as another token than the
# one registered. A class both Python and the JSON Schema read the same way.
DeviceToken = Annotated[
    str, StringConstraints(min_length=1, max_length=4096, pattern=r"^[A-Za-z0-9_:.-]+$")
]


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


# Notifications: the inbox, and updates the operator sends --------------------------

NotificationKind = Literal["reminder", "alert", "update"]


class Notification(BaseModel):
    """An inbox item, as the app shows it (and as it is pushed over the WebSocket)."""

    id: str
    kind: NotificationKind
    title: str
    body: str
    voting_id: str | None
    created_at: datetime
    read: bool


class Inbox(BaseModel):
    items: list[Notification]
    unread: int
    next_cursor: str | None


class ListNotifications(Message):
    """A page of the user's inbox, newest first, after ``cursor`` (a previous page's)."""

    type = "notifier.ListNotifications"

    user_id: str
    cursor: str | None = None
    limit: int = Field(default=20, ge=1, le=100)


class MarkNotificationRead(Message):
    type = "notifier.MarkNotificationRead"

    user_id: str
    notification_id: str


class MarkAllNotificationsRead(Message):
    type = "notifier.MarkAllNotificationsRead"

    user_id: str


UpdateTitle = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
UpdateBody = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class PublishUpdate(Message):
    """Send an update to every user who consented to updates at this moment."""

    type = "notifier.PublishUpdate"

    title: UpdateTitle
    body: UpdateBody
    voting_id: str | None = None
    published_by: str


class CountUpdateAudience(Message):
    """How many users an update published now would reach; replies ``UpdateAudience``."""

    type = "notifier.CountUpdateAudience"


class UpdateAudience(BaseModel):
    audience: int


class GetUpdate(Message):
    type = "notifier.GetUpdate"

    update_id: str


class UpdatePublished(Message):
    """An update's audience is decided; its delivery follows."""

    type = "notifier.UpdatePublished"
    routing_key = "notifier.update_published"

    update_id: str
    title: str
    body: str
    voting_id: str | None
    audience: int
    published_by: str


class Delivery(BaseModel):
    """How far a notification to many users has got (counts of users, and of devices)."""

    id: str
    kind: NotificationKind
    title: str
    voting_id: str | None = Field(default=None, description="the voting it is about, if any")
    audience: int = Field(description="users it is for")
    inboxed: int = Field(description="users it reached the inbox of")
    in_app: int = Field(description="users it reached over a WebSocket")
    pushed: int = Field(description="devices FCM accepted it for")
    failed: int = Field(description="devices it could not be pushed to")
    tokens_removed: int = Field(description="devices FCM reported dead, now removed")
    without_device: int = Field(description="offline users with no device")
    done: bool
    created_at: datetime


class ListCampaigns(Message):
    """The notifications to many users (reminders, alerts, updates) created in
    ``[since, until)``, each with how far its delivery got; replies ``CampaignDeliveries``."""

    type = "notifier.ListCampaigns"

    since: datetime
    until: datetime


class CampaignDeliveries(BaseModel):
    items: list[Delivery]


class NotificationCreated(Message):
    """A user online got a notification: the gateways holding their sockets show it."""

    type = "notifier.NotificationCreated"
    routing_key = "notifier.notification_created"

    user_id: str
    notification: Notification
