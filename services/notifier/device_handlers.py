"""Registering, listing and removing a user's devices (commands from the gateway)."""

from __future__ import annotations

from collections.abc import Callable

from contracts import Envelope, Reply
from contracts.notifier import Devices, ListDevices, RegisterDevice, RemoveDevice
from eventing.clock import Clock
from eventing.handlers import HandlerMap
from eventing.logs import get_logger
from eventing.projection import show_newest
from eventing.repository import Repository
from eventing.store import EventStore
from services.notifier.devices import RemovedBecause, UserDevices
from services.notifier.store import DeviceBook

log = get_logger(__name__)


class DeviceHandlers:
    def __init__(self, store: EventStore, book: DeviceBook, clock: Clock) -> None:
        self._store = store
        self._repository = Repository(store, UserDevices)
        self._book = book
        self._clock = clock

    def commands(self) -> HandlerMap[Reply]:
        return (
            HandlerMap[Reply]()
            .on(RegisterDevice, self.register)
            .on(RemoveDevice, self.remove)
            .on(ListDevices, self.list)
        )

    async def register(self, command: RegisterDevice, envelope: Envelope) -> Reply:
        now = self._clock.now()
        devices = await self._change(
            command.user_id, envelope, lambda d: d.register(command.token, command.platform, now)
        )
        return _listed(devices)

    async def remove(self, command: RemoveDevice, envelope: Envelope) -> Reply:
        devices = await self._change(
            command.user_id, envelope, lambda d: d.remove(command.token, "user")
        )
        return _listed(devices)

    async def list(self, query: ListDevices, _: Envelope) -> Reply:
        return Reply.ok(Devices(items=await self._book.of(query.user_id)).model_dump(mode="json"))

    async def remove_dead(self, user_id: str, token: str, reason: RemovedBecause = "dead") -> None:
        """FCM will never deliver to ``token`` again: stop pushing to it."""
        await self._change(user_id, None, lambda d: d.remove(token, reason))
        log.info("device removed", user_id=user_id, reason=reason)

    async def _change(
        self, user_id: str, cause: Envelope | None, decide: Callable[[UserDevices], None]
    ) -> UserDevices:
        changed = await self._repository.change(user_id, decide, cause=cause)
        assert changed is not None  # created on first use
        devices, _, _ = changed
        # Even when nothing changed: a retry after a crash between the append and the
        # read-model write brings the read model up to date.
        await show_newest(
            self._store, self._repository, devices, self._book.put, self._book.version
        )
        return devices


def _listed(devices: UserDevices) -> Reply:
    return Reply.ok(Devices(items=devices.listed()).model_dump(mode="json"))
