"""What the runs need before a vote is cast, made through livevote's API: users signed
up and logged in, votings open, credits granted, balances read."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench.load import User
from contracts import Envelope, Reply
from contracts.wallet import GrantCredits
from eventing.bus import Bus, ServiceUnavailable
from eventing.gather import bounded

PASSWORD = "bench password, long enough"
# Answers that mean an endpoint is not there (yet), as opposed to refusing the request.
NOT_THERE = {404, 405, 501}


async def login(http: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    response = await http.post("/auth/login", json={"email": email, "password": password})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def new_user(http: httpx.AsyncClient, namespace: str, n: int) -> User:
    email = f"voter{n}@{namespace}.example.com"
    created = await http.post(
        "/auth/signup", json={"email": email, "password": PASSWORD, "display_name": f"Voter {n}"}
    )
    created.raise_for_status()
    return User(id=str(created.json()["id"]), headers=await login(http, email, PASSWORD))


async def open_voting(http: httpx.AsyncClient, admin: dict[str, str], kind: str) -> dict[str, Any]:
    """A voting open from now for an hour, once its tile says it is open."""
    now = datetime.now(UTC)
    title = f"Bench ({kind}) {uuid.uuid4().hex[:6]}"
    created = await http.post(
        "/admin/votings",
        headers=admin,
        json={
            "title": title,
            "description": "",
            "options": ["Red", "Blue", "Green"],
            "kind": kind,
            "opens_at": now.isoformat(),
            "closes_at": (now + timedelta(hours=1)).isoformat(),
        },
    )
    if created.status_code == 503:
        # The gateway gave up waiting, which does not mean the voting was not made.
        voting = await _find_voting(http, admin, title)
    else:
        created.raise_for_status()
        voting = created.json()
    for _ in range(300):
        tile = await http.get(f"/votings/{voting['id']}", headers=admin)
        if tile.status_code == 200 and tile.json().get("status") == "open":
            return voting
        await asyncio.sleep(0.1)
    raise RuntimeError(f"voting {voting['id']} did not open")


async def close_voting(http: httpx.AsyncClient, admin: dict[str, str], voting_id: str) -> None:
    """Close an open voting now (a round's, so the next round's fit the open votings)."""
    closed = await http.post(f"/admin/votings/{voting_id}/close", headers=admin)
    closed.raise_for_status()


async def _find_voting(
    http: httpx.AsyncClient, admin: dict[str, str], title: str
) -> dict[str, Any]:
    for _ in range(30):
        listed = await http.get("/votings", headers=admin)
        if listed.status_code == 200:
            for tile in listed.json():
                if tile["title"] == title:
                    return dict(tile)
        await asyncio.sleep(1)
    raise RuntimeError(f"the voting {title!r} was not created")


async def grant_credits(
    http: httpx.AsyncClient,
    admin: dict[str, str],
    users: Sequence[User],
    bus: Bus,
    limit: int,
    amount: int,
) -> str:
    """``amount`` credits for each user; says how, or raises Unavailable."""
    first = await _grant_over_http(http, admin, users[0], amount)
    if first.status_code in NOT_THERE:
        # The operator endpoint is not built yet: ask the wallet directly, so the paid
        # saga can still be measured (granting is setup, not what is timed).
        await bounded((_grant_over_bus(bus, user, amount) for user in users), limit)
        endpoint = f"POST /admin/users/{{user_id}}/credits answered {first.status_code}"
        return f"through the wallet's command queue ({endpoint})"
    await _until_granted(http, admin, users[0], amount, first)
    await bounded((_grant(http, admin, user, amount) for user in users[1:]), limit)
    return "through POST /admin/users/{user_id}/credits"


async def _grant(http: httpx.AsyncClient, admin: dict[str, str], user: User, amount: int) -> None:
    answer = await _grant_over_http(http, admin, user, amount)
    await _until_granted(http, admin, user, amount, answer)


async def _until_granted(
    http: httpx.AsyncClient,
    admin: dict[str, str],
    user: User,
    amount: int,
    answer: httpx.Response,
) -> None:
    """Until the user holds the credits. A grant the gateway gave up waiting for (503) may
    have been made all the same, so the balance decides whether to ask again."""
    for _ in range(5):
        if answer.status_code in (200, 201):
            return
        if answer.status_code != 503:
            raise Unavailable(
                f"granting credits answered {answer.status_code}: {answer.text[:200]}"
            )
        await asyncio.sleep(1)
        if (await _balance(http, user) or 0) >= amount:
            return
        answer = await _grant_over_http(http, admin, user, amount)
    raise Unavailable("the wallet did not grant credits within five tries")


async def _grant_over_http(
    http: httpx.AsyncClient, admin: dict[str, str], user: User, amount: int
) -> httpx.Response:
    return await http.post(
        f"/admin/users/{user.id}/credits",
        headers=admin,
        json={"amount": amount, "reason": "benchmark"},
    )


async def _grant_over_bus(bus: Bus, user: User, amount: int) -> None:
    command = GrantCredits(user_id=user.id, amount=amount, reason="benchmark", granted_by="bench")
    try:
        reply: Reply = await bus.request("wallet", Envelope.wrap(command), timeout=30)
    except ServiceUnavailable as error:
        raise Unavailable(f"the wallet did not answer GrantCredits: {error}") from error
    if reply.error is not None:
        raise Unavailable(f"the wallet refused GrantCredits: {reply.error.code}")


class Unavailable(Exception):
    """The paid run cannot be done with what the system offers today."""


async def _balance(http: httpx.AsyncClient, user: User) -> int | None:
    """The user's credits, or None when the gateway cannot say now."""
    me = await http.get("/me", headers=user.headers)
    return int(me.json()["credits"]) if me.status_code == 200 else None


async def balances(http: httpx.AsyncClient, users: Sequence[User], limit: int) -> list[int]:
    """Every user's credits; asks again while the wallet is too busy to answer."""

    async def balance(user: User) -> int:
        for _ in range(10):
            if (credits := await _balance(http, user)) is not None:
                return credits
            await asyncio.sleep(1)
        raise RuntimeError(f"no balance for user {user.id}")

    return await bounded((balance(user) for user in users), limit)
