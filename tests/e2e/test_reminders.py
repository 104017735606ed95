"""Reminders and alerts with lead times of seconds, every service a process: who gets
them, how they arrive, and what a reschedule, a cancel or an early close changes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from websockets.asyncio.client import connect

from eventing.clock import SystemClock
from scripts.fake_fcm import FakeFcm
from services.notifier.campaigns import Campaigns
from services.notifier.presence import Presence
from services.scheduler.store import Timers
from tests.conftest import Servers
from tests.e2e.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    RunningSystem,
    login,
    signup_and_login,
    start_system,
    stop_system,
)
from tests.e2e.notify import campaign_done, device, inbox, prefer
from tests.support import eventually

LEAD_SECONDS = 4


@pytest.fixture(scope="module")
def system(
    servers: Servers, fake_fcm: FakeFcm, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSystem]:
    running = start_system(
        servers,
        tmp_path_factory.mktemp("reminders"),
        LIVEVOTE_FCM_URL=fake_fcm.url,
        LIVEVOTE_REMINDER_LEAD_SECONDS=str(LEAD_SECONDS),
        LIVEVOTE_ALERT_LEAD_SECONDS=str(LEAD_SECONDS),
    )
    yield running
    stop_system(running, servers)


@pytest.fixture
async def http(system: RunningSystem) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=system.api, timeout=15) as client:
        yield client


@pytest.fixture
async def databases(system: RunningSystem, servers: Servers) -> AsyncIterator[tuple[Any, Any]]:
    """The notifier's and the scheduler's databases."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(servers.mongodb_url, tz_aware=True)
    yield client[f"{system.namespace}_notifier"], client[f"{system.namespace}_scheduler"]
    await client.close()


async def voting(
    http: httpx.AsyncClient, admin: dict[str, str], kind: str, opens_in: float, lasts: float
) -> dict[str, Any]:
    now = datetime.now(UTC)
    created = await http.post(
        "/admin/votings",
        headers=admin,
        json={
            "title": f"The {kind} final",
            "description": "",
            "options": ["Yes", "No"],
            "kind": kind,
            "opens_at": (now + timedelta(seconds=opens_in)).isoformat(),
            "closes_at": (now + timedelta(seconds=opens_in + lasts)).isoformat(),
        },
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


async def timers_settled(scheduler_db: Any, voting_id: str) -> bool:
    return not await Timers(scheduler_db).pending_of(voting_id)


async def test_reminders_go_to_those_who_asked_and_not_of_paid_votings_they_hide(
    http: httpx.AsyncClient, system: RunningSystem, fake_fcm: FakeFcm, databases: tuple[Any, Any]
) -> None:
    notifier_db, _ = databases
    admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
    keen, silent, frugal, online = [
        await signup_and_login(http, name) for name in ("keen", "silent", "frugal", "online")
    ]
    keen_id = await prefer(http, notifier_db, keen, reminders=True)
    silent_id = await prefer(http, notifier_db, silent, reminders=False)  # the default
    frugal_id = await prefer(http, notifier_db, frugal, reminders=True, show_paid=False)
    online_id = await prefer(http, notifier_db, online, reminders=True)
    for user, uid in (
        (keen, keen_id),
        (silent, silent_id),
        (frugal, frugal_id),
        (online, online_id),
    ):
        await device(http, user, f"phone-{uid}")

    token = online["Authorization"].removeprefix("Bearer ")
    ws_url = system.system.base_url.replace("http://", "ws://")
    async with connect(f"{ws_url}/api/v1/ws?token={token}") as socket:
        assert json.loads(await socket.recv())["type"] == "connected"
        presence = Presence(notifier_db, SystemClock())
        await eventually(lambda: _has(presence, online_id), timeout=15)

        free = await voting(http, admin, "free", opens_in=LEAD_SECONDS + 2, lasts=60)
        paid = await voting(http, admin, "paid", opens_in=LEAD_SECONDS + 2, lasts=60)
        # The online user is told in the app, of both votings, before they open.
        shown = [json.loads(await asyncio.wait_for(socket.recv(), 15)) for _ in range(2)]
    assert {s["notification"]["voting_id"] for s in shown} == {free["id"], paid["id"]}
    assert {s["notification"]["kind"] for s in shown} == {"reminder"}

    free_delivery = await campaign_done(notifier_db, f"reminder:{free['id']}")
    paid_delivery = await campaign_done(notifier_db, f"reminder:{paid['id']}")
    assert (free_delivery["audience"], free_delivery["in_app"], free_delivery["pushed"]) == (
        3,
        1,
        2,
    )
    assert (paid_delivery["audience"], paid_delivery["in_app"], paid_delivery["pushed"]) == (
        2,
        1,
        1,
    )

    def reminded(uid: str) -> set[str]:
        return {m["message"]["data"]["voting_id"] for m in pushes if m["token"] == f"phone-{uid}"}

    pushes = await fake_fcm.messages()
    assert reminded(keen_id) == {free["id"], paid["id"]}
    assert reminded(frugal_id) == {free["id"]}  # hides paid votings
    assert reminded(silent_id) == set()  # reminders are opt-in
    assert reminded(online_id) == set()  # online: in the app instead
    # A reminder is no use once its voting is open: it expires then.
    [keen_free] = [m for m in pushes if m["token"] == f"phone-{keen_id}"][:1]
    assert keen_free["message"]["android"]["ttl"].endswith("s")
    assert {item["voting_id"] for item in await inbox(http, keen)} == {free["id"], paid["id"]}
    assert await inbox(http, silent) == []


async def test_an_alert_goes_to_those_registered_who_have_not_voted(
    http: httpx.AsyncClient, fake_fcm: FakeFcm, databases: tuple[Any, Any]
) -> None:
    notifier_db, _ = databases
    admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
    late, done, stranger, direct = [
        await signup_and_login(http, name) for name in ("late", "done", "stranger", "direct")
    ]
    ids = {}
    for name, user in (("late", late), ("done", done), ("stranger", stranger), ("direct", direct)):
        ids[name] = await prefer(http, notifier_db, user, reminders=False)
        await device(http, user, f"phone-{ids[name]}")
    ballot = await voting(http, admin, "free", opens_in=1, lasts=LEAD_SECONDS + 5)
    for user in (late, done):
        registered = await http.post(f"/votings/{ballot['id']}/registration", headers=user)
        assert registered.status_code == 200, registered.text

    async def is_open() -> bool:
        tile = await http.get(f"/votings/{ballot['id']}", headers=late)
        return bool(tile.json()["status"] == "open")

    await eventually(is_open, timeout=10)
    option = ballot["options"][0]["id"]
    for user in (done, direct):  # before the alert: they get none
        voted = await http.post(
            f"/votings/{ballot['id']}/votes", headers=user, json={"option_id": option}
        )
        assert voted.status_code == 201, voted.text

    delivery = await campaign_done(notifier_db, f"alert:{ballot['id']}")
    assert (delivery["audience"], delivery["pushed"]) == (1, 1)
    [alert] = await fake_fcm.messages(f"phone-{ids['late']}")
    message = alert["message"]
    assert message["android"]["priority"] == "high"
    assert message["android"]["collapse_key"] == f"alert:{ballot['id']}"
    closes_at = datetime.fromisoformat(ballot["closes_at"])
    expires = int(message["apns"]["headers"]["apns-expiration"])
    assert expires == int(closes_at.timestamp())  # never shown after the close
    for name in ("done", "stranger", "direct"):
        assert await fake_fcm.messages(f"phone-{ids[name]}") == []
    [item] = await inbox(http, late)
    assert item["kind"] == "alert" and item["voting_id"] == ballot["id"]


async def test_a_moved_cancelled_or_closed_voting_is_not_announced_at_its_old_times(
    http: httpx.AsyncClient, databases: tuple[Any, Any]
) -> None:
    notifier_db, scheduler_db = databases
    admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
    [fan] = [await signup_and_login(http, "fan")]
    await prefer(http, notifier_db, fan, reminders=True)

    # Moved closer: reminded once, at the new time.
    moved = await voting(http, admin, "free", opens_in=300, lasts=600)
    now = datetime.now(UTC)
    rescheduled = await http.patch(
        f"/admin/votings/{moved['id']}",
        headers=admin,
        json={
            "opens_at": (now + timedelta(seconds=LEAD_SECONDS + 2)).isoformat(),
            "closes_at": (now + timedelta(seconds=600)).isoformat(),
        },
    )
    assert rescheduled.status_code == 200, rescheduled.text
    await campaign_done(notifier_db, f"reminder:{moved['id']}")
    assert [i["voting_id"] for i in await inbox(http, fan)] == [moved["id"]]

    # Cancelled before its reminder, closed early before its alert: neither is sent.
    cancelled = await voting(http, admin, "free", opens_in=LEAD_SECONDS + 3, lasts=600)
    assert (
        await http.post(f"/admin/votings/{cancelled['id']}/cancel", headers=admin)
    ).status_code == 200
    closing = await voting(http, admin, "free", opens_in=1, lasts=LEAD_SECONDS + 30)
    registered = await http.post(f"/votings/{closing['id']}/registration", headers=fan)
    assert registered.status_code == 200

    async def is_open() -> bool:
        tile = await http.get(f"/votings/{closing['id']}", headers=fan)
        return bool(tile.json()["status"] == "open")

    await eventually(is_open, timeout=10)
    assert (
        await http.post(f"/admin/votings/{closing['id']}/close", headers=admin)
    ).status_code == 200
    # Proof the scheduler handled both: none of their timers waits any more.
    for voting_id in (cancelled["id"], closing["id"]):
        await eventually(lambda v=voting_id: timers_settled(scheduler_db, v), timeout=15)
    campaigns = Campaigns(notifier_db)
    assert await campaigns.get(f"reminder:{cancelled['id']}") is None
    assert await campaigns.get(f"alert:{closing['id']}") is None


async def _has(presence: Presence, user: str) -> bool:
    return user in await presence.online([user])
