"""Two of everything: two processes of every service, as production runs them.

Each gateway replica is reached on its own port on purpose, so a request and the events
it causes cross replicas: a vote taken by one gateway, decided by either voting process,
its credit reserved by either wallet, pushed to a socket held by the other gateway.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from websockets.asyncio.client import ClientConnection, connect

from contracts import Envelope
from contracts.voting import UNANSWERED_OUTCOME, VoteCast
from eventing.bus import Bus
from eventing.clock import SystemClock
from eventing.settings import RuntimeSettings
from eventing.store import EventStore
from scripts.fake_fcm import FakeFcm
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
from tests.e2e.notify import campaign_done, device, prefer
from tests.e2e.paid import (
    account_events,
    counted,
    credits,
    open_voting,
    settled_vote,
    some_users,
    vote,
)
from tests.support import eventually

# A paid vote whose request waits in the wrong process would wait this long for the
# saga's outcome; the clients below give up long before, so such a wait fails the test.
CONFIRM_WAIT_SECONDS = "30"
CLIENT_TIMEOUT_SECONDS = 10


@pytest.fixture(scope="module")
def pair(
    servers: Servers, fake_fcm: FakeFcm, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSystem]:
    running = start_system(
        servers,
        tmp_path_factory.mktemp("replicas"),
        replicas=2,
        LIVEVOTE_VOTING_CONFIRM_WAIT_SECONDS=CONFIRM_WAIT_SECONDS,
        LIVEVOTE_FCM_URL=fake_fcm.url,
    )
    yield running
    stop_system(running, servers)


@pytest.fixture
async def gateways(pair: RunningSystem) -> AsyncIterator[list[httpx.AsyncClient]]:
    """A client for each gateway replica, on its own port."""
    clients = [
        httpx.AsyncClient(base_url=f"{url}/api/v1", timeout=CLIENT_TIMEOUT_SECONDS)
        for url in pair.system.gateway_urls()
    ]
    assert len(clients) == 2
    try:
        yield clients
    finally:
        for client in clients:
            await client.aclose()


async def open_socket(gateway: httpx.AsyncClient, headers: dict[str, str]) -> ClientConnection:
    token = headers["Authorization"].removeprefix("Bearer ")
    url = str(gateway.base_url).replace("http://", "ws://").rstrip("/")
    socket = await connect(f"{url}/ws?token={token}")
    # Once this arrives, the socket is registered for pushes.
    assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "connected"
    return socket


async def pushes_until(socket: ClientConnection, vote_id: str) -> dict[str, Any]:
    """The push about ``vote_id`` (others before it are skipped)."""
    while True:
        push: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), 10))
        if push.get("vote_id") == vote_id:
            return push


async def test_the_shared_port_serves_the_api_and_each_replica_has_its_own(
    pair: RunningSystem, gateways: list[httpx.AsyncClient]
) -> None:
    async with httpx.AsyncClient(base_url=pair.api, timeout=CLIENT_TIMEOUT_SECONDS) as shared:
        # A token from one replica is good on the other and on the shared port.
        headers = await signup_and_login(gateways[0])
        for client in (*gateways, shared):
            me = await client.get("/me", headers=headers)
            assert me.status_code == 200, me.text
    assert [p.name for p in pair.system.of("voting")] == ["voting", "voting#2"]


async def test_paid_votes_through_either_gateway_are_confirmed_at_once(
    gateways: list[httpx.AsyncClient],
) -> None:
    admin = await login(gateways[0], ADMIN_EMAIL, ADMIN_PASSWORD)
    voting = await open_voting(gateways[0], admin, kind="paid")
    users = await some_users(gateways[0], admin, 16, credits=1)

    # Sixteen votes at once over both gateways: whichever voting process settles each,
    # the one holding its request answers it (a 201), not its confirm wait running out.
    answers = await asyncio.gather(
        *(vote(gateways[n % 2], headers, voting) for n, (_, headers) in enumerate(users))
    )
    assert [a.status_code for a in answers] == [201] * len(users), [a.text for a in answers]
    assert {a.json()["status"] for a in answers} == {"confirmed"}
    assert await counted(gateways[1], admin, voting["id"]) == len(users)
    for n, (_, headers) in enumerate(users):
        assert await credits(gateways[n % 2], headers) == 0


async def test_a_voter_without_credit_is_refused_at_once_by_either_replica(
    gateways: list[httpx.AsyncClient],
) -> None:
    admin = await login(gateways[0], ADMIN_EMAIL, ADMIN_PASSWORD)
    voting = await open_voting(gateways[1], admin, kind="paid")
    users = await some_users(gateways[1], admin, 6, credits=0)
    answers = await asyncio.gather(
        *(vote(gateways[n % 2], headers, voting) for n, (_, headers) in enumerate(users))
    )
    assert [a.status_code for a in answers] == [402] * len(users), [a.text for a in answers]
    assert {a.json()["error"]["code"] for a in answers} == {"INSUFFICIENT_CREDITS"}
    assert await counted(gateways[0], admin, voting["id"]) == 0


async def test_free_votes_over_both_gateways_each_count_once(
    gateways: list[httpx.AsyncClient],
) -> None:
    admin = await login(gateways[1], ADMIN_EMAIL, ADMIN_PASSWORD)
    voting = await open_voting(gateways[1], admin, kind="free")
    users = await some_users(gateways[0], admin, 12, credits=0)
    first = await asyncio.gather(
        *(vote(gateways[n % 2], headers, voting) for n, (_, headers) in enumerate(users))
    )
    assert [a.status_code for a in first] == [201] * len(users)
    # The same users again, through the other gateway: every voting process knows.
    again = await asyncio.gather(
        *(vote(gateways[(n + 1) % 2], headers, voting) for n, (_, headers) in enumerate(users))
    )
    assert {a.json()["error"]["code"] for a in again} == {"ALREADY_VOTED"}
    assert await counted(gateways[0], admin, voting["id"]) == len(users)
    tile = (await gateways[1].get(f"/votings/{voting['id']}", headers=users[0][1])).json()
    assert tile["my_vote"]["vote_id"] == first[0].json()["vote_id"]


async def test_a_socket_on_either_gateway_hears_of_a_vote_its_request_could_not_answer(
    pair: RunningSystem, gateways: list[httpx.AsyncClient], servers: Servers
) -> None:
    admin = await login(gateways[0], ADMIN_EMAIL, ADMIN_PASSWORD)
    paid = await open_voting(gateways[0], admin, kind="paid")
    [(user_id, headers)] = await some_users(gateways[0], admin, 1, credits=1)
    sockets = [await open_socket(gateway, headers) for gateway in gateways]
    bus = Bus(
        RuntimeSettings(rabbitmq_url=servers.rabbitmq_url, namespace=pair.namespace), "voting"
    )
    await bus.start()
    try:
        # Answered by its request (201); settled by the other voting process, its outcome
        # is broadcast too, to find the request, so the sockets may hear of it first.
        answer = await vote(gateways[1], headers, paid)
        assert answer.status_code == 201, answer.text
        # Settled after its request gave up (202), as a voting process broadcasts it.
        late = VoteCast(
            vote_id="late-1", voting_id=paid["id"], user_id=user_id, option_id="o", kind="paid"
        )
        await bus.broadcast(Envelope.wrap(late), UNANSWERED_OUTCOME)
        for socket in sockets:  # the one on the other gateway too
            push = await pushes_until(socket, "late-1")
            assert push["type"] == "vote.confirmed"
            assert push["voting_id"] == paid["id"]
    finally:
        await bus.stop()
        for socket in sockets:
            await socket.close()


async def test_an_update_reaches_a_socket_on_either_gateway_and_the_phones_of_the_rest(
    pair: RunningSystem, gateways: list[httpx.AsyncClient], servers: Servers, fake_fcm: FakeFcm
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(servers.mongodb_url, tz_aware=True)
    notifier_db = client[f"{pair.namespace}_notifier"]
    try:
        admin = await login(gateways[0], ADMIN_EMAIL, ADMIN_PASSWORD)
        first, second, away = [await signup_and_login(gateways[n % 2]) for n in range(3)]
        ids = [
            await prefer(gateways[0], notifier_db, u, updates=True) for u in (first, second, away)
        ]
        await device(gateways[1], away, f"phone-{ids[2]}")
        # One user online on each gateway; the third offline.
        sockets = [await open_socket(gateways[0], first), await open_socket(gateways[1], second)]
        try:
            presence = Presence(notifier_db, SystemClock())

            async def both_online() -> bool:
                return await presence.online(ids[:2]) == set(ids[:2])

            await eventually(both_online, timeout=15)
            sent = await gateways[1].post(
                "/admin/updates", headers=admin, json={"title": "Two of each", "body": "Hello"}
            )
            assert sent.status_code == 202, sent.text
            for socket in sockets:
                while True:
                    push = json.loads(await asyncio.wait_for(socket.recv(), 10))
                    if push["type"] == "notification":
                        break
                assert push["notification"]["title"] == "Two of each"
        finally:
            for socket in sockets:
                await socket.close()
        delivery = await campaign_done(notifier_db, f"update:{sent.json()['id']}")
        assert (delivery["in_app"], delivery["pushed"]) == (2, 1)
        assert len(await fake_fcm.messages(f"phone-{ids[2]}")) == 1
    finally:
        await client.close()


async def test_rescheduled_then_closed_early_each_timer_fires_once(
    pair: RunningSystem, gateways: list[httpx.AsyncClient], servers: Servers
) -> None:
    admin = await login(gateways[0], ADMIN_EMAIL, ADMIN_PASSWORD)
    [(_, voter)] = await some_users(gateways[1], admin, 1, credits=0)
    now = datetime.now(UTC)
    created = await gateways[0].post(
        "/admin/votings",
        headers=admin,
        json={
            "title": "Moved twice",
            "description": "",
            "options": ["Yes", "No"],
            "kind": "free",
            "opens_at": (now + timedelta(minutes=30)).isoformat(),
            "closes_at": (now + timedelta(minutes=60)).isoformat(),
        },
    )
    assert created.status_code == 201, created.text
    voting = created.json()
    moved = await gateways[1].patch(
        f"/admin/votings/{voting['id']}",
        headers=admin,
        json={
            "opens_at": (datetime.now(UTC) + timedelta(seconds=1)).isoformat(),
            "closes_at": (datetime.now(UTC) + timedelta(minutes=10)).isoformat(),
        },
    )
    assert moved.status_code == 200, moved.text

    async def is_open() -> bool:
        tile = await gateways[0].get(f"/votings/{voting['id']}", headers=voter)
        return bool(tile.json()["status"] == "open")

    async def open_time_fired() -> bool:
        fired = await scheduler_events(servers, pair.namespace, voting["id"])
        return "scheduler.VotingOpenTimeReached" in fired

    await eventually(is_open, timeout=15)
    await eventually(open_time_fired, timeout=15)
    closed = await gateways[1].post(f"/admin/votings/{voting['id']}/close", headers=admin)
    assert closed.status_code == 200, closed.text

    # Every voting process refuses a vote now: the change reached both caches.
    for attempt in range(6):
        refused = await vote(gateways[attempt % 2], voter, voting)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "VOTING_CLOSED"

    # Both schedulers followed each change: the first opening time dropped, the new one
    # fired, the closing time dropped by the early close; none is pending any more.
    await eventually(lambda: timers_settled(servers, pair.namespace, voting["id"]), timeout=15)
    fired = await scheduler_events(servers, pair.namespace, voting["id"])
    assert fired.count("scheduler.VotingOpenTimeReached") == 1, fired
    assert fired.count("scheduler.VotingCloseTimeReached") == 0, fired


async def timers_settled(servers: Servers, namespace: str, voting_id: str) -> bool:
    """Whether none of the voting's timers waits to fire or to be dropped any more."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(servers.mongodb_url)
    try:
        return not await Timers(client[f"{namespace}_scheduler"]).pending_of(voting_id)
    finally:
        await client.close()


async def scheduler_events(servers: Servers, namespace: str, voting_id: str) -> list[str]:
    """The types of the events the scheduler emitted for ``voting_id``."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(servers.mongodb_url)
    try:
        store = EventStore(client[f"{namespace}_scheduler"])
        return [
            event.type
            async for commit in store.replay()
            for event in commit.events
            if event.payload.get("voting_id") == voting_id
        ]
    finally:
        await client.close()


# One replica of each service killed under load ----------------------------------------


@pytest.fixture
def own_pair(servers: Servers, fake_fcm: FakeFcm, tmp_path: Path) -> Iterator[RunningSystem]:
    running = start_system(servers, tmp_path, replicas=2, LIVEVOTE_FCM_URL=fake_fcm.url)
    yield running
    stop_system(running, servers)


async def test_one_replica_of_each_service_killed_under_load_loses_nothing(
    own_pair: RunningSystem, servers: Servers
) -> None:
    system = own_pair.system
    # Through the shared port, as clients come: after the kill only one gateway is there.
    async with httpx.AsyncClient(base_url=own_pair.api, timeout=30) as http:
        admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
        paid = await open_voting(http, admin, kind="paid")
        free = await open_voting(http, admin, kind="free")
        users = await some_users(http, admin, 30, credits=1)
        closing = await open_voting(http, admin, kind="free", lasts=8)
        ballots = [(n, voting) for n in range(len(users)) for voting in (paid, free)]

        async def cast(n: int, voting: dict[str, Any]) -> httpx.Response | None:
            """None: the connection died with its gateway."""
            try:
                return await http.post(
                    f"/votings/{voting['id']}/votes",
                    headers={**users[n][1], "Idempotency-Key": f"{voting['id']}-{n}"},
                    json={"option_id": voting["options"][n % 2]["id"]},
                )
            except httpx.TransportError:
                return None

        # A steady stream, not one burst: a few votes in flight at a time.
        stream = asyncio.Semaphore(4)

        async def streamed(n: int, voting: dict[str, Any]) -> httpx.Response | None:
            async with stream:
                return await cast(n, voting)

        in_flight = [asyncio.create_task(streamed(n, voting)) for n, voting in ballots]
        # Under load: the first answers are back, most votes are still to come.
        await eventually(lambda: sum(task.done() for task in in_flight) >= 8, timeout=30)
        for service in ("gateway", "voting", "wallet", "notifier", "scheduler"):
            system.of(service)[1].kill()
        first = await asyncio.gather(*in_flight)
        assert sum(task is not None and task.status_code == 201 for task in first) >= 8
        # In flight when their process died: answered 503, or cut off with the connection;
        # or pending (202), a paid vote whose saga waits for a survivor.
        assert {r.status_code for r in first if r is not None} <= {201, 202, 503}, [
            r.text for r in first if r is not None and r.status_code not in (201, 202, 503)
        ]

        # A retry with its key finds the vote the first try made, or makes it now.
        for (n, voting), answer in zip(ballots, first, strict=True):

            async def retried(n: int = n, voting: dict[str, Any] = voting) -> httpx.Response | None:
                again = await cast(n, voting)
                return None if again is None or again.status_code == 503 else again

            again = await eventually(retried, timeout=60)
            # Pending (202) when its saga waits for a message a killed process left for
            # its survivor to publish; it settles like any other.
            assert again.status_code in (201, 202), again.text
            if answer is not None and answer.status_code in (201, 202):
                assert again.json()["vote_id"] == answer.json()["vote_id"]
            if again.status_code == 202:
                settled = await settled_vote(http, users[n][1], voting["id"])
                assert settled is not None and settled["vote_id"] == again.json()["vote_id"]

        # Every vote counted once; every voter paid exactly one credit.
        for voting in (paid, free):

            async def all_counted(voting: dict[str, Any] = voting) -> bool:
                return await counted(http, admin, voting["id"]) == len(users)

            await eventually(all_counted, timeout=60)
        for user_id, headers in users:
            assert await credits(http, headers) == 0

            async def debited_once(user_id: str = user_id) -> bool:
                events = await account_events(servers.mongodb_url, own_pair.namespace, user_id)
                return events.count("wallet.CreditsDebited") == 1

            await eventually(debited_once, timeout=60)

    # The surviving scheduler closes what was due after the kill, once.
    async def closed_once() -> bool:
        fired = await scheduler_events(servers, own_pair.namespace, closing["id"])
        return fired.count("scheduler.VotingCloseTimeReached") == 1

    await eventually(closed_once, timeout=30)
