"""Broadcast subscriptions: every process of a service sees every matching event."""

from __future__ import annotations

from collections import Counter

from contracts import Envelope, Message
from contracts.gateway import UserRegistered
from eventing.service import ServiceRuntime
from eventing.settings import RuntimeSettings
from tests.support import eventually, registered


async def test_each_process_gets_its_own_copy(
    settings: RuntimeSettings, gateway: ServiceRuntime
) -> None:
    seen: list[Counter[str]] = [Counter(), Counter()]
    replicas = []
    for counter in seen:

        async def record(event: Message, _: Envelope, counter: Counter[str] = counter) -> None:
            assert isinstance(event, UserRegistered)
            counter[event.user_id] += 1

        replica = ServiceRuntime("notifier", settings)
        replica.bus.consume_broadcast({UserRegistered: record}, ["gateway.user_registered"])
        replica.serve()
        await replica.start()
        replicas.append(replica)
    try:
        for user in ("ada", "bob", "cy"):
            await gateway.bus.publish_event(Envelope.wrap(registered(user)))

        async def both_saw_all() -> bool:
            return all(sum(c.values()) == 3 for c in seen)

        await eventually(both_saw_all)
        assert seen[0] == seen[1] == Counter({"ada": 1, "bob": 1, "cy": 1})
    finally:
        for replica in replicas:
            await replica.stop()
