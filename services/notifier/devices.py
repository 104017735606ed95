"""A user's devices: where their pushes go. Pure: no I/O.

The stream ``devices-<user id>`` records each device registered and removed. A device is
its FCM registration token; registering it again changes nothing (apps re-register on
every start). A user keeps at most ``MAX_DEVICES``: a new one beyond that replaces the
one registered longest ago, since phones are replaced without being unregistered.
Tokens that FCM reports dead are removed by the notifier itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from contracts import Message
from contracts.notifier import Device, Platform
from eventing.aggregate import Aggregate

MAX_DEVICES = 10

RemovedBecause = Literal["user", "dead", "replaced"]


class DeviceRegistered(Message):
    """Private: a device's pushes go to this user now."""

    type = "notifier.DeviceRegistered"

    user_id: str
    token: str
    platform: Platform
    registered_at: datetime


class DeviceRemoved(Message):
    """Private: no more pushes to this device; why (the user, FCM, a newer device)."""

    type = "notifier.DeviceRemoved"

    user_id: str
    token: str
    reason: RemovedBecause


class UserDevices(Aggregate):
    stream_prefix = "devices"

    def __init__(self, user_id: str) -> None:
        super().__init__(user_id)
        # By token, in the order they were registered.
        self.devices: dict[str, Device] = {}

    def register(self, token: str, platform: Platform, now: datetime) -> None:
        known = self.devices.get(token)
        if known is not None and known.platform == platform:
            return
        if known is None and len(self.devices) >= MAX_DEVICES:
            oldest = next(iter(self.devices))
            self.trigger(DeviceRemoved(user_id=self.id, token=oldest, reason="replaced"))
        self.trigger(
            DeviceRegistered(user_id=self.id, token=token, platform=platform, registered_at=now)
        )

    def remove(self, token: str, reason: RemovedBecause) -> None:
        """Removing a device that is not there changes nothing."""
        if token in self.devices:
            self.trigger(DeviceRemoved(user_id=self.id, token=token, reason=reason))

    def listed(self) -> list[Device]:
        return list(self.devices.values())

    def apply(self, event: Message) -> None:
        match event:
            case DeviceRegistered():
                # Registered again on another platform: it keeps its place.
                self.devices[event.token] = Device(
                    token=event.token, platform=event.platform, created_at=event.registered_at
                )
            case DeviceRemoved():
                self.devices.pop(event.token, None)
