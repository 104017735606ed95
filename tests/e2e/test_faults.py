"""Faults with every service running as a process: the system heals by itself."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from contracts.topology import EVENT_SUBSCRIPTIONS, SERVICES, command_queue, event_queue
from tests.conftest import Servers, consumer_counts
from tests.e2e.conftest import RunningSystem, signup_and_login
from tests.support import count_commits, eventually


async def test_after_a_broker_restart_every_service_consumes_again(
    own_system: RunningSystem, servers: Servers
) -> None:
    if servers.restart_broker is None:
        pytest.skip("the broker is not one this test run started, so it cannot restart it")
    restart: Any = servers.restart_broker
    namespace = own_system.namespace
    queues = [f"{namespace}.{command_queue(s)}" for s in SERVICES]
    queues += [f"{namespace}.{event_queue(s)}" for s in EVENT_SUBSCRIPTIONS]

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
