"""Updates the operator sends: in the inbox of every consenting user, in the app for those
online, on the phones of those offline; once, however often the notifier is told."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from websockets.asyncio.client import connect

from eventing.bus import Bus
from eventing.clock import SystemClock
from eventing.settings import RuntimeSettings
from eventing.store import EventStore
from scripts.fake_fcm import FakeFcm
from services.notifier.presence import Presence
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
from tests.e2e.notify import campaign_done, device, prefer
from tests.e2e.test_free_vote_slice import error_code
from tests.support import eventually


@pytest.fixture(scope="module")
def system(
    servers: Servers, fake_fcm: FakeFcm, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSystem]:
    """A system of its own: the audience of an update is everyone who consents."""
    running = start_system(
        servers, tmp_path_factory.mktemp("updates"), LIVEVOTE_FCM_URL=fake_fcm.url
    )
    yield running
    stop_system(running, servers)


@pytest.fixture
async def http(system: RunningSystem) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=system.api, timeout=15) as client:
        yield client


@pytest.fixture
async def notifier_db(system: RunningSystem, servers: Servers) -> AsyncIterator[Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(servers.mongodb_url, tz_aware=True)
    yield client[f"{system.namespace}_notifier"]
    await client.close()


async def test_an_update_reaches_exactly_the_consenting_users_once_each(
    http: httpx.AsyncClient,
    system: RunningSystem,
    servers: Servers,
    fake_fcm: FakeFcm,
    notifier_db: Any,
) -> None:
    admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
    ada, bob, cid, dan = [
        await signup_and_login(http, name) for name in ("ada", "bob", "cid", "dan")
    ]
    ada_id = await prefer(http, notifier_db, ada, updates=True)
    await prefer(http, notifier_db, bob, updates=False)
    cid_id = await prefer(http, notifier_db, cid, updates=True)
    dan_id = await prefer(http, notifier_db, dan, updates=True)
    await device(http, ada, f"ada-phone-{ada_id}")
    await device(http, bob, f"bob-phone-{ada_id}")
    await device(http, cid, f"cid-phone-{cid_id}")
    await device(http, cid, f"dead-cid-old-phone-{cid_id}")
    await device(http, dan, f"dan-phone-{dan_id}")

    # Dan is online: his socket is announced to the notifier.
    token = dan["Authorization"].removeprefix("Bearer ")
    ws_url = system.system.base_url.replace("http://", "ws://")
    async with connect(f"{ws_url}/api/v1/ws?token={token}") as socket:
        assert json.loads(await socket.recv())["type"] == "connected"
        presence = Presence(notifier_db, clock=SystemClock())
        await eventually(lambda: _online(presence, dan_id), timeout=15)

        sent = await http.post(
            "/admin/updates",
            headers=admin,
            json={"title": "Final tonight", "body": "Tune in at 20:00", "voting_id": None},
        )
        assert sent.status_code == 202, sent.text
        update = sent.json()
        assert update["audience"] == 3  # ada, cid, dan; not bob, not the admin

        shown = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert shown["type"] == "notification"
        assert shown["notification"]["kind"] == "update"
        assert shown["notification"]["title"] == "Final tonight"
        assert shown["notification"]["read"] is False

    async def delivered() -> dict[str, Any] | None:
        progress = await http.get(f"/admin/updates/{update['id']}", headers=admin)
        assert progress.status_code == 200, progress.text
        body: dict[str, Any] = progress.json()
        return body if body["done"] else None

    progress = await eventually(delivered, timeout=30)
    assert {k: progress[k] for k in ("audience", "inboxed", "in_app", "pushed", "failed")} == {
        "audience": 3,
        "inboxed": 3,
        "in_app": 1,
        "pushed": 2,
        "failed": 0,
    }
    assert progress["tokens_removed"] == 1 and progress["without_device"] == 0

    # Pushes to the offline users' live devices only; the dead one is gone after one try.
    pushed = {
        m["token"] for m in await fake_fcm.messages() if m["token"].endswith((ada_id, cid_id))
    }
    assert pushed == {f"ada-phone-{ada_id}", f"cid-phone-{cid_id}"}
    assert await fake_fcm.messages(f"dan-phone-{dan_id}") == []
    listed = (await http.get("/me/devices", headers=cid)).json()["items"]
    assert [d["token"] for d in listed] == [f"cid-phone-{cid_id}"]

    # The inbox: one entry each; bob has none.
    page = (await http.get("/me/notifications", headers=ada)).json()
    assert page["unread"] == 1 and page["next_cursor"] is None
    [item] = page["items"]
    assert (item["kind"], item["title"], item["voting_id"]) == ("update", "Final tonight", None)
    assert (await http.get("/me/notifications", headers=bob)).json()["items"] == []
    read = await http.post(f"/me/notifications/{item['id']}/read", headers=ada)
    assert read.status_code == 200 and read.json()["read"] is True
    assert (await http.get("/me/notifications", headers=ada)).json()["unread"] == 0
    # Someone else's notification is not yours to read.
    foreign = await http.post(f"/me/notifications/{item['id']}/read", headers=cid)
    assert foreign.status_code == 404 and error_code(foreign) == "NOT_FOUND"

    # The update's event delivered again changes nothing: no second entry, no push.
    pushes_before = len(await fake_fcm.messages())
    await _publish_again(servers, system.namespace, f"update-{update['id']}")

    def handled_twice() -> bool:  # the notifier says so each time it has handled it
        lines = system.log.read_text().splitlines()
        return sum("campaign delivered" in line and update["id"] in line for line in lines) == 2

    await eventually(handled_twice, timeout=15)
    for user in (ada, cid, dan):
        assert len((await http.get("/me/notifications", headers=user)).json()["items"]) == 1
    assert len(await fake_fcm.messages()) == pushes_before


async def test_an_update_is_refused_to_a_voter_and_for_bad_input(
    http: httpx.AsyncClient,
) -> None:
    admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
    voter = await signup_and_login(http, "voter")
    body = {"title": "Hello", "body": "World"}
    refused = await http.post("/admin/updates", headers=voter, json=body)
    assert refused.status_code == 403 and error_code(refused) == "FORBIDDEN"
    for bad in ({"title": "", "body": "x"}, {"title": "x"}, {"title": "x", "body": "y" * 2001}):
        invalid = await http.post("/admin/updates", headers=admin, json=bad)
        assert invalid.status_code == 422 and error_code(invalid) == "VALIDATION_ERROR"
    missing = await http.get("/admin/updates/no-such-update", headers=admin)
    assert missing.status_code == 404 and error_code(missing) == "NOT_FOUND"
    bad_cursor = await http.get("/me/notifications?cursor=garbage", headers=voter)
    assert bad_cursor.status_code == 422 and error_code(bad_cursor) == "VALIDATION_ERROR"


async def _online(presence: Presence, user: str) -> bool:
    return user in await presence.online([user])


async def _publish_again(servers: Servers, namespace: str, stream: str) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(servers.mongodb_url)
    bus = Bus(RuntimeSettings(rabbitmq_url=servers.rabbitmq_url, namespace=namespace), "test")
    try:
        [event] = await EventStore(client[f"{namespace}_notifier"]).read(stream)
        await bus.start()
        await bus.publish_event(event)
    finally:
        await bus.stop()
        await client.close()


async def test_the_inbox_pages_newest_first_and_marks_everything_read(
    http: httpx.AsyncClient, notifier_db: Any
) -> None:
    admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
    reader = await signup_and_login(http, "reader")
    await prefer(http, notifier_db, reader, updates=True)
    sent = []
    for n in range(3):
        answer = await http.post(
            "/admin/updates", headers=admin, json={"title": f"News {n}", "body": "..."}
        )
        assert answer.status_code == 202, answer.text
        sent.append(answer.json()["id"])
    for update_id in sent:
        await campaign_done(notifier_db, f"update:{update_id}")

    first = (await http.get("/me/notifications?limit=2", headers=reader)).json()
    assert [i["title"] for i in first["items"]] == ["News 2", "News 1"]
    assert first["unread"] == 3 and first["next_cursor"]
    rest = await http.get(
        "/me/notifications", headers=reader, params={"limit": 2, "cursor": first["next_cursor"]}
    )
    assert [i["title"] for i in rest.json()["items"]] == ["News 0"]
    assert rest.json()["next_cursor"] is None

    marked = await http.post("/me/notifications/read-all", headers=reader)
    assert marked.status_code == 200 and marked.json() == {"marked": 3}
    after = (await http.get("/me/notifications", headers=reader)).json()
    assert after["unread"] == 0 and all(i["read"] for i in after["items"])
    assert (await http.post("/me/notifications/read-all", headers=reader)).json() == {"marked": 0}
