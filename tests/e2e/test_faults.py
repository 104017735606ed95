"""Faults with every service running as a process: the system heals by itself."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from contracts.topology import command_queue, durable_queues
from eventing.settings import RuntimeSettings
from tests.conftest import Servers, consumer_counts, queued_messages
from tests.e2e.conftest import RunningSystem, signup_and_login
from tests.e2e.paid import admin_headers, counted, open_voting, some_users
from tests.support import count_commits, eventually


async def test_after_a_broker_restart_every_service_consumes_again(
    own_system: RunningSystem, servers: Servers
) -> None:
    if servers.restart_broker is None:
        pytest.skip("the broker is not one this test run started, so it cannot restart it")
    restart: Any = servers.restart_broker
    namespace = own_system.namespace
    queues = [f"{namespace}.{queue}" for queue in durable_queues(RuntimeSettings().saga_shards)]

    async with httpx.AsyncClient(base_url=own_system.api, timeout=15) as http:
        # Messages flow while the broker goes down and comes back.
        signed_up: list[dict[str, str]] = []
        signups = asyncio.create_task(_keep_signing_up(http, 8.0, signed_up))
        await eventually(lambda: len(signed_up) >= 2)  # some before the restart
        await asyncio.to_thread(restart)
        users = await signups

        await asyncio.to_thread(own_system.system.wait_ready, 60.0)
        counts = await eventually(lambda: _all_consumed(namespace, queues), timeout=30)
        assert all(counts[queue] >= 1 for queue in queues), counts

        # Every signup confirmed before, during or after the restart reached the wallet
        # (an account opened) and the notifier (a recipient), and so does a new one.
        users.append(await signup_and_login(http))
        user_ids = []
        for headers in users:
            me = await http.get("/me", headers=headers)
            assert me.status_code == 200, me.text
            user_ids.append(me.json()["id"])
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(servers.mongodb_url)
    try:
        wallet = client[f"{namespace}_wallet"]
        recipients = client[f"{namespace}_notifier"]["recipients"]

        async def everyone_arrived() -> bool:
            opened = await count_commits(
                wallet, {"stream": {"$in": [f"account-{u}" for u in user_ids]}}
            )
            known = await recipients.count_documents({"_id": {"$in": user_ids}})
            return opened == known == len(user_ids)

        await eventually(everyone_arrived, timeout=30)
    finally:
        await client.close()


async def _keep_signing_up(
    http: httpx.AsyncClient, seconds: float, users: list[dict[str, str]]
) -> list[dict[str, str]]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        try:
            users.append(await signup_and_login(http))
        except (AssertionError, httpx.HTTPError):
            await asyncio.sleep(0.2)  # refused while the broker is away: a clear error
    return users


async def _all_consumed(namespace: str, queues: list[str]) -> dict[str, int] | None:
    counts = await asyncio.to_thread(consumer_counts, namespace)
    return counts if all(counts.get(q, 0) >= 1 for q in queues) else None


async def test_votes_in_flight_when_the_voting_service_dies_are_each_counted_once(
    own_system: RunningSystem, servers: Servers
) -> None:
    if servers.restart_broker is None:
        pytest.skip("the broker is not one this test run started, so it cannot be inspected")
    voting_process = own_system.system.processes["voting"]
    commands = f"{own_system.namespace}.{command_queue('voting')}"
    async with httpx.AsyncClient(base_url=own_system.api, timeout=60) as http:
        admin = await admin_headers(http)
        voting = await open_voting(http, admin, kind="free")
        users = [headers for _, headers in await some_users(http, admin, 12, credits=0)]
        options = [voting["options"][n % 2]["id"] for n in range(len(users))]

        async def cast(n: int) -> httpx.Response:
            return await http.post(
                f"/votings/{voting['id']}/votes",
                headers={**users[n], "Idempotency-Key": f"vote-{n}"},
                json={"option_id": options[n]},
            )

        # Sent at once to a frozen service, the votes go out in batches and wait in its
        # queue (and in its prefetch), unanswered; then it dies.
        voting_process.pause()
        try:
            in_flight = [asyncio.create_task(cast(n)) for n in range(len(users))]
            await eventually(lambda: asyncio.to_thread(queued_messages, commands), timeout=30)
        finally:
            voting_process.kill()
        voting_process.start()
        await asyncio.to_thread(own_system.system.wait_ready, 60.0)
        first = await asyncio.gather(*in_flight)
        assert {r.status_code for r in first} <= {201, 503}, [r.text for r in first]

        # A retry with its key finds the vote the first try made, or makes it now.
        for n in range(len(users)):

            async def retried(n: int = n) -> httpx.Response | None:
                again = await cast(n)
                return None if again.status_code == 503 else again

            again = await eventually(retried, timeout=30)
            assert again.status_code == 201, again.text
            assert again.json()["option_id"] == options[n]
            if first[n].status_code == 201:
                assert again.json()["vote_id"] == first[n].json()["vote_id"]
        assert await counted(http, admin, voting["id"]) == len(users)
