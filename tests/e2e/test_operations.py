"""The operator's live view and tools over HTTP, on the running system: health, dead
letters and their replay, users by e-mail, the results as CSV, an update's audience."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from typing import Any

import aio_pika
import httpx
import pytest

from contracts import Envelope
from contracts.gateway import PreferencesChanged
from contracts.topology import SERVICES
from tests.conftest import Servers
from tests.e2e.conftest import RunningSystem, signup_and_login
from tests.e2e.notify import user_id
from tests.e2e.paid import admin_headers, open_voting, vote
from tests.support import eventually

pytestmark = pytest.mark.e2e


async def _health(http: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    answer = await http.get("/admin/health", headers=admin)
    assert answer.status_code == 200, answer.text
    health: dict[str, Any] = answer.json()
    return health


async def test_health_shows_every_service_up_and_each_queue_with_its_consumers(
    http: httpx.AsyncClient,
) -> None:
    admin = await admin_headers(http)
    health = await _health(http, admin)
    assert {s["name"]: s["status"] for s in health["services"]} == dict.fromkeys(SERVICES, "up")

    async def consumed() -> dict[str, Any] | None:
        # RabbitMQ's management statistics trail the broker by a few seconds.
        health = await _health(http, admin)
        return health if all((s["consumers"] or 0) >= 1 for s in health["services"]) else None

    health = await eventually(consumed, timeout=30)
    queues = {q["name"]: q for q in health["queues"]}
    for service in SERVICES:
        assert queues[f"{service}.commands"]["consumers"] >= 1
    assert {"dead-letters", "unrouted", "voting.events"} <= set(queues)
    assert isinstance(health["dead_letters"], int)


async def test_the_operations_routes_are_for_the_operator_only(http: httpx.AsyncClient) -> None:
    user = await signup_and_login(http)
    for method, path in [
        ("GET", "/admin/health"),
        ("GET", "/admin/dead-letters"),
        ("POST", "/admin/dead-letters/replay"),
        ("GET", "/admin/users?email=someone@example.com"),
        ("GET", "/admin/updates/audience"),
    ]:
        answer = await http.request(method, path, headers=user)
        assert answer.status_code == 403, (path, answer.text)
        assert answer.json()["error"]["code"] == "FORBIDDEN"
        assert (await http.request(method, path)).status_code == 401


async def test_a_stopped_service_is_down_until_it_is_back(own_system: RunningSystem) -> None:
    async with httpx.AsyncClient(base_url=own_system.api, timeout=15) as http:
        admin = await admin_headers(http)
        scheduler = own_system.system.processes["scheduler"]
        await asyncio.to_thread(scheduler.stop)
        health = await _health(http, admin)
        status = {s["name"]: s["status"] for s in health["services"]}
        assert status == {**dict.fromkeys(SERVICES, "up"), "scheduler": "down"}

        scheduler.start()
        await asyncio.to_thread(own_system.system.wait_ready, 60.0, ("scheduler",))
        health = await _health(http, admin)
        assert {s["name"]: s["status"] for s in health["services"]} == dict.fromkeys(SERVICES, "up")


async def test_dead_letters_are_listed_and_replayed_to_their_queue(
    own_system: RunningSystem, servers: Servers
) -> None:
    namespace = own_system.namespace
    async with httpx.AsyncClient(base_url=own_system.api, timeout=15) as http:
        admin = await admin_headers(http)
        reader = await signup_and_login(http)
        reader_id = await user_id(http, reader)
        before = (await http.get("/admin/updates/audience", headers=admin)).json()["audience"]

        connection = await aio_pika.connect(servers.rabbitmq_url)
        async with connection:
            channel = await connection.channel()
            # Unreadable: the notifier refuses it at once and RabbitMQ dead-letters it.
            events = await channel.get_exchange(f"{namespace}.events")
            await events.publish(
                aio_pika.Message(b"not json", message_id="unreadable", type="gateway.Nonsense"),
                routing_key=PreferencesChanged.routing_key,
            )
            # And one that died while its cause stood (stamped as RabbitMQ stamps it): the
            # reader's consent to updates, which the notifier never applied.
            consent = Envelope.wrap(
                PreferencesChanged(user_id=reader_id, reminders=False, updates=True, show_paid=True)
            )
            death = {
                "queue": f"{namespace}.notifier.events",
                "reason": "delivery_limit",
                "count": 1,
            }
            await channel.default_exchange.publish(
                aio_pika.Message(
                    consent.model_dump_json().encode(),
                    message_id=consent.message_id,
                    type=consent.type,
                    content_type="application/json",
                    headers={"x-death": [death]},
                ),
                routing_key=f"{namespace}.dead-letters",
            )

        async def both_dead() -> dict[str, Any] | None:
            # By id: under load a request may also expire in its queue and be listed.
            listed = (await http.get("/admin/dead-letters", headers=admin)).json()
            ids = {letter["id"] for letter in listed["items"]}
            return listed if {"unreadable", consent.message_id} <= ids else None

        listed = await eventually(both_dead, timeout=30)
        by_id = {letter["id"]: letter for letter in listed["items"]}
        assert by_id["unreadable"]["reason"] == "rejected"
        assert by_id["unreadable"]["queue"].endswith(".events")
        assert by_id[consent.message_id]["type"] == "gateway.PreferencesChanged"

        # The letters the listing looked at go back to the queue a moment after: until
        # then the broker counts fewer.
        async def all_counted() -> bool:
            return bool((await _health(http, admin))["dead_letters"] == listed["total"] == 2)

        await eventually(all_counted)

        replay = await http.post("/admin/dead-letters/replay", headers=admin)
        assert replay.status_code == 200, replay.text
        assert replay.json()["replayed"] == listed["total"]

        async def reader_counted() -> bool:
            answer = await http.get("/admin/updates/audience", headers=admin)
            return bool(answer.json()["audience"] == before + 1)

        await eventually(reader_counted, timeout=30)


async def test_the_operator_finds_a_user_by_email_and_sees_their_credits(
    http: httpx.AsyncClient,
) -> None:
    admin = await admin_headers(http)
    email = f"Find-{uuid.uuid4().hex[:8]}@Example.com"
    created = await http.post(
        "/auth/signup",
        json={"email": email, "password": "correct horse battery", "display_name": "F"},
    )
    assert created.status_code == 201, created.text
    found = await http.get("/admin/users", params={"email": f" {email.lower()} "}, headers=admin)
    assert found.status_code == 200, found.text
    [user] = found.json()["items"]
    assert user["email"].lower() == email.lower() and user["role"] == "user"
    granted = await http.post(
        f"/admin/users/{user['id']}/credits",
        headers=admin,
        json={"amount": 3, "reason": "a goodwill gesture"},
    )
    assert granted.status_code == 201, granted.text
    account = (await http.get(f"/admin/users/{user['id']}", headers=admin)).json()
    assert account["credits"] == 3
    assert [(e["kind"], e["amount"], e["reason"]) for e in account["ledger"]] == [
        ("grant", 3, "a goodwill gesture")
    ]
    nobody = await http.get("/admin/users", params={"email": "nobody@example.com"}, headers=admin)
    assert nobody.json() == {"items": []}
    missing = await http.get("/admin/users/no-such-user", headers=admin)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"


async def test_results_are_exported_as_csv_while_the_voting_is_open(
    http: httpx.AsyncClient,
) -> None:
    admin = await admin_headers(http)
    voting = await open_voting(http, admin, kind="free")
    voter = await signup_and_login(http)
    yes = voting["options"][0]["id"]
    assert (await vote(http, voter, voting)).status_code == 201

    async def counted() -> list[list[str]] | None:
        answer = await http.get(f"/admin/votings/{voting['id']}/results.csv", headers=admin)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/csv")
        assert "attachment" in answer.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(answer.text)))
        return rows if rows[1][2] == "1" else None

    rows = await eventually(counted, timeout=15)
    assert rows == [["option_id", "label", "votes"], [yes, "Yes", "1"], [rows[2][0], "No", "0"]]
    missing = await http.get("/admin/votings/no-such-voting/results.csv", headers=admin)
    assert missing.status_code == 404
    await http.post(f"/admin/votings/{voting['id']}/close", headers=admin)


def _samples(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        series, _, value = line.rpartition(" ")
        if all(f'{key}="{wanted}"' in series for key, wanted in labels.items()):
            total += float(value)
    return total


def _unlabelled(text: str, name: str) -> float | None:
    """The value of a metric without labels, or None when it is not there."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rpartition(" ")[2])
    return None


async def test_every_process_answers_its_metrics_for_prometheus(
    http: httpx.AsyncClient, running: RunningSystem
) -> None:
    admin = await admin_headers(http)
    voting = await open_voting(http, admin, kind="free")
    voter = await signup_and_login(http)
    assert (await vote(http, voter, voting)).status_code == 201
    not_open = await http.post("/votings/no-such-voting/votes", headers=voter, json={})

    async with httpx.AsyncClient(timeout=15) as scraper:
        gateway = await scraper.get(f"{running.system.base_url}/metrics")
        assert gateway.status_code == 200
        assert gateway.headers["content-type"].startswith("text/plain")
        route = "/api/v1/votings/{voting_id}/votes"
        votes = {"method": "POST", "route": route}
        assert _samples(gateway.text, "livevote_http_requests_total", **votes, status="201") >= 1
        assert (
            _samples(
                gateway.text,
                "livevote_http_requests_total",
                **votes,
                status=str(not_open.status_code),
            )
            >= 1
        )
        assert _samples(gateway.text, "livevote_http_request_seconds_count", **votes) >= 2
        # A raw path never becomes a series of its own.
        assert voting["id"] not in gateway.text

        for process in running.system.processes.values():
            if process.service == "gateway":
                continue
            scraped = await scraper.get(process.ready_url.removesuffix("/readyz") + "/metrics")
            assert scraped.status_code == 200, process.name
            assert "livevote_outbox_waiting_commits" in scraped.text

        voting_service = running.system.of("voting")[0]
        scraped = await scraper.get(voting_service.ready_url.removesuffix("/readyz") + "/metrics")
        cast = {"kind": "command", "type": "voting.CastVote"}
        assert _samples(scraped.text, "livevote_messages_handled_total", **cast, outcome="ok") >= 1
        assert _samples(scraped.text, "livevote_handler_seconds_count", **cast) >= 1

        # The wallet tells how many credits are held for paid votes being confirmed.
        wallet = running.system.of("wallet")[0].ready_url.removesuffix("/readyz")
        held = _unlabelled(
            (await scraper.get(f"{wallet}/metrics")).text, "livevote_open_credit_reservations"
        )
        assert held is not None and held >= 0

        # The notifier counts an update it delivered, by channel.
        reader = await signup_and_login(http)
        consented = await http.patch("/me/preferences", headers=reader, json={"updates": True})
        assert consented.status_code == 200, consented.text

        async def reader_in_audience() -> bool:
            audience = await http.get("/admin/updates/audience", headers=admin)
            return int(audience.json()["audience"]) >= 1

        await eventually(reader_in_audience, timeout=15)
        notifier = running.system.of("notifier")[0].ready_url.removesuffix("/readyz")
        inboxed_before = _samples(
            (await scraper.get(f"{notifier}/metrics")).text,
            "livevote_notifications_total",
            kind="update",
            channel="inbox",
        )
        sent = await http.post(
            "/admin/updates", headers=admin, json={"title": "Metrics", "body": "Counted"}
        )
        assert sent.status_code == 202, sent.text
        audience = int(sent.json()["audience"])

        async def update_counted() -> bool:
            text = (await scraper.get(f"{notifier}/metrics")).text
            inboxed = _samples(text, "livevote_notifications_total", kind="update", channel="inbox")
            return inboxed - inboxed_before >= audience

        await eventually(update_counted, timeout=30)

        # The voting's opening timer fired (the scheduler says how late).
        scheduler = running.system.of("scheduler")[0].ready_url.removesuffix("/readyz")

        async def opening_fired() -> bool:
            text = (await scraper.get(f"{scheduler}/metrics")).text
            opened = {"event": "scheduler.VotingOpenTimeReached"}
            return _samples(text, "livevote_timer_lateness_seconds_count", **opened) >= 1

        await eventually(opening_fired, timeout=15)
