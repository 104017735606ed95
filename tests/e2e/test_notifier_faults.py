"""The notifier killed with SIGKILL in the middle of a 2,000-recipient alert, and every
notifier input delivered twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient

from contracts import Envelope
from contracts.notifier import RegisterDevice
from contracts.scheduler import VotingClosingSoon
from contracts.voting import VoterRegistered
from eventing.bus import Bus
from eventing.settings import RuntimeSettings
from scripts.fake_fcm import FakeFcm
from tests.conftest import Servers
from tests.e2e.conftest import RunningSystem
from tests.e2e.notify import campaign_done
from tests.support import eventually, voting_scheduled

RECIPIENTS = 2_000


async def _seed_alert(bus: Bus, voting_id: str, users: list[str]) -> Envelope:
    """A voting the notifier knows, ``users`` registered to it, each with a device, as the
    voting service and the gateway would tell it; the alert event, not yet published."""
    now = datetime.now(UTC)
    closes_at = now + timedelta(minutes=10)
    scheduled = voting_scheduled(
        voting_id, now - timedelta(minutes=5), closes_at, title="The big final"
    )
    await bus.publish_event(Envelope.wrap(scheduled))
    registrations = [Envelope.wrap(VoterRegistered(voting_id=voting_id, user_id=u)) for u in users]
    for start in range(0, len(registrations), 250):
        await bus.publish_events(registrations[start : start + 250])
    limit = asyncio.Semaphore(32)

    async def register(user: str) -> None:
        async with limit:
            command = RegisterDevice(user_id=user, token=f"phone-{user}", platform="ios")
            reply = await bus.request("notifier", Envelope.wrap(command), timeout=30)
            assert reply.error is None, reply.error

    await asyncio.gather(*(register(user) for user in users))
    return Envelope.wrap(VotingClosingSoon(voting_id=voting_id, closes_at=closes_at, due_at=now))


async def _all_attending(db: Any, voting_id: str) -> bool:
    return await db["attendees"].count_documents({"voting_id": voting_id}) == RECIPIENTS


async def test_a_notifier_killed_mid_alert_reaches_everyone_once_in_the_inbox(
    own_system: RunningSystem, servers: Servers, fake_fcm: FakeFcm
) -> None:
    voting_id = f"v-{own_system.namespace}"
    users = [f"{own_system.namespace}-u{n:04d}" for n in range(RECIPIENTS)]
    settings = RuntimeSettings(rabbitmq_url=servers.rabbitmq_url, namespace=own_system.namespace)
    bus = Bus(settings, "scheduler")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(servers.mongodb_url, tz_aware=True)
    db = client[f"{own_system.namespace}_notifier"]
    notifier = own_system.system.processes["notifier"]
    try:
        await bus.start()
        alert = await _seed_alert(bus, voting_id, users)
        await eventually(lambda: _all_attending(db, voting_id), timeout=60)

        async def ours() -> list[str]:
            prefix = f"phone-{own_system.namespace}"
            return [m["token"] for m in await fake_fcm.messages(prefix=prefix)]

        await bus.publish_event(alert)
        # Killed once the first pushes are out, long before the last.
        await eventually(lambda: _at_least(ours, 200), timeout=60, interval=0.01)
        notifier.kill()
        before_restart = len(await ours())
        notifier.start()
        await asyncio.to_thread(own_system.system.wait_ready, 60.0, ("notifier",))

        delivery = await campaign_done(db, f"alert:{voting_id}", timeout=120)
        assert delivery["audience"] == RECIPIENTS
        entries = db["inbox_entries"].find({"campaign": f"alert:{voting_id}"}, {"user_id": 1})
        inbox = Counter([d["user_id"] async for d in entries])
        assert set(inbox) == set(users) and set(inbox.values()) == {1}
        pushes = Counter(await ours())
        assert set(pushes) == {f"phone-{u}" for u in users}
        duplicated = sum(count - 1 for count in pushes.values())
        # Only chunks being delivered when the notifier died are delivered again.
        print(f"\npushes before the kill: {before_restart}; duplicated: {duplicated}")
        assert duplicated <= 500  # one chunk in flight at a time

        # Delivered twice more (a redelivery, a replayed commit): nothing changes.
        await bus.publish_event(alert)
        await bus.publish_event(alert.model_copy(update={"message_id": "again"}))

        def handled_thrice() -> bool:
            lines = own_system.log.read_text().splitlines()
            return sum("campaign delivered" in line and voting_id in line for line in lines) >= 3

        await eventually(handled_thrice, timeout=60)
        assert len(await ours()) == sum(pushes.values())
        entries = db["inbox_entries"]
        assert await entries.count_documents({"campaign": f"alert:{voting_id}"}) == RECIPIENTS
    finally:
        await bus.stop()
        await client.close()


async def _at_least(pushed: Callable[[], Awaitable[list[str]]], count: int) -> bool:
    return len(await pushed()) >= count
