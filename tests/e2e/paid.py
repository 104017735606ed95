"""Helpers for end-to-end tests of paid votes: votings, credits, outcomes over HTTP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from eventing.store import EventStore
from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login, signup_and_login
from tests.support import eventually


async def admin_headers(http: httpx.AsyncClient) -> dict[str, str]:
    return await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)


async def open_voting(
    http: httpx.AsyncClient, admin: dict[str, str], kind: str = "paid", lasts: float = 600
) -> dict[str, Any]:
    """A voting that opens within half a second and is open when this returns."""
    now = datetime.now(UTC)
    created = await http.post(
        "/admin/votings",
        headers=admin,
        json={
            "title": f"A {kind} voting",
            "description": "",
            "options": ["Yes", "No"],
            "kind": kind,
            "opens_at": (now + timedelta(seconds=0.5)).isoformat(),
            "closes_at": (now + timedelta(seconds=lasts)).isoformat(),
        },
    )
    assert created.status_code == 201, created.text
    voting: dict[str, Any] = created.json()

    async def is_open() -> bool:
        tile = await http.get(f"/votings/{voting['id']}", headers=admin)
        return bool(tile.json()["status"] == "open")

    await eventually(is_open, timeout=10)
    return voting


async def user_with_credits(
    http: httpx.AsyncClient, admin: dict[str, str], credits: int
) -> tuple[str, dict[str, str]]:
    headers = await signup_and_login(http)
    user_id = str((await http.get("/me", headers=headers)).json()["id"])
    if credits:
        # A busy wallet may answer 503; the same Idempotency-Key makes the retry safe.
        key = {"Idempotency-Key": f"grant-{user_id}"}

        async def grant() -> httpx.Response | None:
            granted = await http.post(
                f"/admin/users/{user_id}/credits",
                headers={**admin, **key},
                json={"amount": credits, "reason": "test credits"},
            )
            return None if granted.status_code == 503 else granted

        granted = await eventually(grant, timeout=60)
        assert granted.status_code in (200, 201), granted.text
    return user_id, headers


async def some_users(
    http: httpx.AsyncClient, admin: dict[str, str], count: int, credits: int = 1
) -> list[tuple[str, dict[str, str]]]:
    """``count`` users with ``credits`` each; signed up a few at a time, as password
    hashing is made to be slow."""
    limit = asyncio.Semaphore(8)

    async def one() -> tuple[str, dict[str, str]]:
        async with limit:
            return await user_with_credits(http, admin, credits)

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def vote(
    http: httpx.AsyncClient, headers: dict[str, str], voting: dict[str, Any], option: int = 0
) -> httpx.Response:
    return await http.post(
        f"/votings/{voting['id']}/votes",
        headers=headers,
        json={"option_id": voting["options"][option]["id"]},
    )


async def settled_vote(
    http: httpx.AsyncClient, headers: dict[str, str], voting_id: str
) -> dict[str, Any] | None:
    """The user's vote once it is no longer pending (None: no vote, or rejected)."""

    async def probe() -> tuple[str, dict[str, Any] | None] | None:
        response = await http.get(f"/votings/{voting_id}/votes/me", headers=headers)
        if response.status_code == 404:
            return ("none", None)
        if response.status_code != 200:
            return None  # busy (503): ask again
        body: dict[str, Any] = response.json()
        return None if body["status"] == "pending" else (body["status"], body)

    state, body = await eventually(probe, timeout=60)
    return body if state == "confirmed" else None


async def counted(http: httpx.AsyncClient, admin: dict[str, str], voting_id: str) -> int:
    results = await http.get(f"/votings/{voting_id}/results", headers=admin)
    assert results.status_code == 200, results.text
    return int(results.json()["total"])


async def credits(http: httpx.AsyncClient, headers: dict[str, str]) -> int:
    async def profile() -> httpx.Response | None:
        me = await http.get("/me", headers=headers)
        return None if me.status_code == 503 else me  # a busy wallet: ask again

    me = await eventually(profile, timeout=60)
    assert me.status_code == 200, me.text
    return int(me.json()["credits"])


async def account_events(mongodb_url: str, namespace: str, user_id: str) -> list[str]:
    """The types of the events in the user's credit account, in order."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url)
    try:
        events = await EventStore(client[f"{namespace}_wallet"]).read(f"account-{user_id}")
        return [event.type for event in events]
    finally:
        await client.close()
