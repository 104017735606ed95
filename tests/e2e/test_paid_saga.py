"""The paid-vote saga end to end, every service a process: crashes, duplicates, races."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from eventing.outbox import ENTRIES, ONLY_COMMITS, entry_id
from eventing.store import COMMITS
from tests.conftest import Servers
from tests.e2e.conftest import RunningSystem
from tests.e2e.paid import (
    account_events,
    admin_headers,
    counted,
    credits,
    open_voting,
    settled_vote,
    some_users,
    user_with_credits,
    vote,
)
from tests.support import eventually

DEBITED = "wallet.CreditsDebited"
RESERVED = "wallet.CreditsReserved"


async def test_one_user_with_one_credit_voting_fifty_times_at_once(
    http: httpx.AsyncClient,
) -> None:
    admin = await admin_headers(http)
    voting = await open_voting(http, admin)
    _, user = await user_with_credits(http, admin, 1)
    responses = await asyncio.gather(*(vote(http, user, voting) for _ in range(50)))
    statuses = sorted(r.status_code for r in responses)
    accepted = [s for s in statuses if s in (201, 202)]
    assert len(accepted) == 1, statuses
    assert statuses.count(409) == 49, statuses
    assert all(
        r.json()["error"]["code"] == "ALREADY_VOTED" for r in responses if r.status_code == 409
    )
    assert await settled_vote(http, user, voting["id"]) is not None
    assert await counted(http, admin, voting["id"]) == 1
    assert await credits(http, user) == 0


async def test_a_hundred_users_with_one_credit_vote_on_two_paid_votings_at_once(
    http: httpx.AsyncClient,
) -> None:
    admin = await admin_headers(http)
    first, second = await open_voting(http, admin), await open_voting(http, admin)
    users = await some_users(http, admin, 100)
    responses = await asyncio.gather(
        *(vote(http, headers, voting) for _, headers in users for voting in (first, second))
    )
    assert {r.status_code for r in responses} <= {201, 202, 402, 503}, [
        (r.status_code, r.text) for r in responses if r.status_code not in (201, 202, 402)
    ]
    outcomes = [
        await settled_vote(http, headers, voting["id"])
        for _, headers in users
        for voting in (first, second)
    ]
    paid_votes = sum(1 for outcome in outcomes if outcome is not None)
    assert paid_votes > 0, [(r.status_code, r.text) for r in responses[:5]]
    balances = await asyncio.gather(*(credits(http, headers) for _, headers in users))
    assert min(balances) >= 0
    assert 100 - sum(balances) == paid_votes
    assert await counted(http, admin, first["id"]) + await counted(http, admin, second["id"]) == (
        paid_votes
    )
    # One credit each: a user has one vote counted and no credit, or (a vote rejected as
    # the machine was too slow to confirm it in time) no vote and the credit back.
    assert set(balances) <= {0, 1}


async def test_the_wallet_killed_between_reserve_and_commit(
    own_system: RunningSystem, servers: Servers
) -> None:
    wallet = own_system.system.processes["wallet"]
    voting_process = own_system.system.processes["voting"]
    async with httpx.AsyncClient(base_url=own_system.api, timeout=30) as http:
        admin = await admin_headers(http)
        voting = await open_voting(http, admin)
        user_id, user = await user_with_credits(http, admin, 3)
        await eventually(lambda: _has(servers, own_system, user_id, "wallet.CreditsGranted"))

        try:
            await reserved_while_voting_is_frozen(http, servers, own_system, user_id, user, voting)
        finally:
            wallet.kill()
            voting_process.resume()
        assert DEBITED not in await account_events(
            servers.mongodb_url, own_system.namespace, user_id
        )

        wallet.start()
        await asyncio.to_thread(own_system.system.wait_ready, 60.0)
        assert await settled_vote(http, user, voting["id"]) is not None
        events = await eventually(lambda: _has(servers, own_system, user_id, DEBITED), timeout=30)
        assert events.count(DEBITED) == 1 and events.count(RESERVED) == 1
        assert await credits(http, user) == 2
        assert await counted(http, admin, voting["id"]) == 1


async def test_voting_killed_after_the_reservation(
    own_system: RunningSystem, servers: Servers
) -> None:
    voting_process = own_system.system.processes["voting"]
    async with httpx.AsyncClient(base_url=own_system.api, timeout=30) as http:
        admin = await admin_headers(http)
        voting = await open_voting(http, admin)
        user_id, user = await user_with_credits(http, admin, 1)
        await eventually(lambda: _has(servers, own_system, user_id, "wallet.CreditsGranted"))

        try:
            await reserved_while_voting_is_frozen(http, servers, own_system, user_id, user, voting)
        finally:
            voting_process.kill()
        voting_process.start()
        await asyncio.to_thread(own_system.system.wait_ready, 60.0)

        outcome = await settled_vote(http, user, voting["id"])
        events = await eventually(
            lambda: _settled_account(servers, own_system, user_id), timeout=60
        )
        if outcome is not None:  # counted, with exactly one credit debited
            assert events.count(DEBITED) == 1
            assert await credits(http, user) == 0
            assert await counted(http, admin, voting["id"]) == 1
        else:  # rejected, with the credit released
            assert DEBITED not in events
            assert await credits(http, user) == 1
            assert await counted(http, admin, voting["id"]) == 0


async def test_every_saga_message_delivered_twice_changes_nothing(
    own_system: RunningSystem, servers: Servers
) -> None:
    async with httpx.AsyncClient(base_url=own_system.api, timeout=30) as http:
        admin = await admin_headers(http)
        voting = await open_voting(http, admin)
        users = await some_users(http, admin, 10)
        poor = await user_with_credits(http, admin, 0)
        await asyncio.gather(*(vote(http, headers, voting) for _, headers in [*users, poor]))
        for _, headers in [*users, poor]:
            await settled_vote(http, headers, voting["id"])
        assert await counted(http, admin, voting["id"]) == 10

        # As if every relay had died before marking what it published: everything is
        # published again, saga messages included.
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(servers.mongodb_url)
        try:
            for service in ("voting", "wallet"):
                database = client[f"{own_system.namespace}_{service}"]

                async def published(database: Any = database) -> bool:
                    # The last entries go a moment after their commits are published.
                    return await database[COMMITS].count_documents(ENTRIES) == 0

                await eventually(published)
                # One entry per group of appends, naming the group's commits.
                groups: dict[Any, list[str]] = {}
                async for commit in database[COMMITS].find(ONLY_COMMITS, {"position": 1}):
                    groups.setdefault(commit["position"], []).append(commit["_id"])
                entries = [{"_id": entry_id(p), "commits": ids} for p, ids in groups.items()]
                assert entries
                await database[COMMITS].insert_many(entries)
                entry_ids = {"_id": {"$in": [entry["_id"] for entry in entries]}}

                async def republished(database: Any = database, entry_ids: Any = entry_ids) -> bool:
                    return await database[COMMITS].count_documents(entry_ids) == 0

                await eventually(republished, timeout=30)
        finally:
            await client.close()
        await asyncio.sleep(2.0)  # the copies are consumed by now

        assert await counted(http, admin, voting["id"]) == 10
        for user_id, headers in users:
            assert await credits(http, headers) == 0
            events = await account_events(servers.mongodb_url, own_system.namespace, user_id)
            assert events.count(DEBITED) == 1 and events.count(RESERVED) == 1
        assert await credits(http, poor[1]) == 0


async def reserved_while_voting_is_frozen(
    http: httpx.AsyncClient,
    servers: Servers,
    running: RunningSystem,
    user_id: str,
    user: dict[str, str],
    voting: dict[str, Any],
) -> None:
    """A paid vote whose credit the wallet has reserved, with the voting process frozen
    (SIGSTOP) so that nothing has acted on the reservation yet: the moment to kill one.

    The wallet is held while the vote is requested, so the request answers 202 and the
    reservation waits; then voting is held and the wallet let go to reserve.
    """
    wallet, voting_process = running.system.processes["wallet"], running.system.processes["voting"]
    wallet.pause()
    try:
        cast = await vote(http, user, voting)
        assert cast.status_code == 202, cast.text
        voting_process.pause()
    finally:
        wallet.resume()
    await eventually(lambda: _has(servers, running, user_id, RESERVED), timeout=30)


async def _has(servers: Servers, running: RunningSystem, user_id: str, event: str) -> list[str]:
    events = await account_events(servers.mongodb_url, running.namespace, user_id)
    return events if event in events else []


async def _settled_account(servers: Servers, running: RunningSystem, user_id: str) -> list[str]:
    events = await account_events(servers.mongodb_url, running.namespace, user_id)
    settled = DEBITED in events or "wallet.CreditsReleased" in events
    return events if settled else []
