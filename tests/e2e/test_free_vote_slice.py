"""The first vertical slice over HTTP, every service a separate process on real servers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from eventing.store import EventStore
from tests.conftest import Servers
from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, RunningSystem, login, signup_and_login
from tests.support import eventually


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["message"], body
    return str(body["error"]["code"])


async def create_voting(
    client: httpx.AsyncClient, admin: dict[str, str], opens_in: float, lasts: float
) -> dict[str, Any]:
    now = datetime.now(UTC)
    response = await client.post(
        "/admin/votings",
        headers=admin,
        json={
            "title": "Best act tonight",
            "description": "Vote for your favourite act",
            "options": ["The Reds", "The Blues", "The Greens"],
            "kind": "free",
            "opens_at": (now + timedelta(seconds=opens_in)).isoformat(),
            "closes_at": (now + timedelta(seconds=opens_in + lasts)).isoformat(),
        },
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def status_is(client: httpx.AsyncClient, user: dict[str, str], voting_id: str, status: str):  # type: ignore[no-untyped-def]
    async def probe() -> bool:
        tile = await client.get(f"/votings/{voting_id}", headers=user)
        return bool(tile.json()["status"] == status)

    return probe


async def test_a_user_votes_once_inside_the_window(
    http: httpx.AsyncClient, running: RunningSystem, servers: Servers
) -> None:
    admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
    voter = await signup_and_login(http, "voter")
    latecomer = await signup_and_login(http, "late")
    # Everything slow (password hashing) is done before the clock starts.
    voting = await create_voting(http, admin, opens_in=3, lasts=4)
    assert voting["status"] == "scheduled" and voting["kind"] == "free"
    option = voting["options"][1]["id"]
    vote_url = f"/votings/{voting['id']}/votes"

    tiles = await http.get("/votings", headers=voter)
    assert tiles.status_code == 200
    assert voting["id"] in [t["id"] for t in tiles.json()]

    early = await http.post(vote_url, headers=voter, json={"option_id": option})
    assert early.status_code == 409 and error_code(early) == "VOTING_NOT_OPEN"
    assert early.json()["error"]["details"]["opens_at"] == voting["opens_at"]

    await eventually(await status_is(http, voter, voting["id"], "open"), timeout=10)
    cast = await http.post(vote_url, headers=voter, json={"option_id": option})
    assert cast.status_code == 201, cast.text
    assert cast.json()["status"] == "confirmed" and cast.json()["vote_id"]

    again = await http.post(vote_url, headers=voter, json={"option_id": option})
    assert again.status_code == 409 and error_code(again) == "ALREADY_VOTED"

    tile = (await http.get(f"/votings/{voting['id']}", headers=voter)).json()
    assert tile["registered"] is True
    assert tile["my_vote"]["option_id"] == option

    await eventually(await status_is(http, latecomer, voting["id"], "closed"), timeout=10)
    late = await http.post(vote_url, headers=latecomer, json={"option_id": option})
    assert late.status_code == 409 and error_code(late) == "VOTING_CLOSED"

    # The scheduler's timers reached the voting service through the broker.
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(servers.mongodb_url)
    try:
        store = EventStore(client[f"{running.namespace}_voting"])

        async def recorded() -> list[str] | None:
            types = [e.type for e in await store.read(f"voting-{voting['id']}")]
            return types if len(types) == 3 else None

        types = await eventually(recorded, timeout=10)
        assert types == ["voting.VotingScheduled", "voting.VotingOpened", "voting.VotingClosed"]
    finally:
        await client.close()


async def test_bad_input_is_refused_with_a_clear_error_and_changes_nothing(
    http: httpx.AsyncClient,
) -> None:
    admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
    voter = await signup_and_login(http)
    voting = await create_voting(http, admin, opens_in=0.5, lasts=60)
    await eventually(await status_is(http, voter, voting["id"], "open"), timeout=10)
    vote_url = f"/votings/{voting['id']}/votes"

    for body in ({}, {"option_id": 12}, {"option": "x"}, []):
        bad = await http.post(vote_url, headers=voter, json=body)
        assert bad.status_code == 422, (body, bad.text)
        assert error_code(bad) == "VALIDATION_ERROR"
    not_json = await http.post(
        vote_url, headers={**voter, "content-type": "application/json"}, content=b"{nope"
    )
    assert not_json.status_code == 422 and error_code(not_json) == "VALIDATION_ERROR"
    unknown = await http.post(vote_url, headers=voter, json={"option_id": "no-such-option"})
    assert unknown.status_code == 422 and error_code(unknown) == "UNKNOWN_OPTION"

    no_token = await http.post(vote_url, json={"option_id": voting["options"][0]["id"]})
    assert no_token.status_code == 401 and error_code(no_token) == "UNAUTHENTICATED"
    forged = await http.get("/me", headers={"Authorization": "Bearer not.a.token"})
    assert forged.status_code == 401 and error_code(forged) == "UNAUTHENTICATED"
    not_admin = await http.post("/admin/votings", headers=voter, json={})
    assert not_admin.status_code in (403, 422)
    bad_voting = await http.post(
        "/admin/votings",
        headers=admin,
        json={"title": "x", "options": ["only one"], "kind": "free"},
    )
    assert bad_voting.status_code == 422 and error_code(bad_voting) == "VALIDATION_ERROR"
    missing = await http.get("/votings/does-not-exist", headers=voter)
    assert missing.status_code == 404 and error_code(missing) == "NOT_FOUND"

    # None of that counted as a vote.
    tile = (await http.get(f"/votings/{voting['id']}", headers=voter)).json()
    assert tile["my_vote"] is None and tile["registered"] is False
    cast = await http.post(vote_url, headers=voter, json={"option_id": voting["options"][0]["id"]})
    assert cast.status_code == 201


async def test_profile_shows_credits_from_the_wallet(http: httpx.AsyncClient) -> None:
    user = await signup_and_login(http)
    me = await http.get("/me", headers=user)
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["credits"] == 0 and body["role"] == "user"
    # Reminders and updates are opt-in.
    assert body["preferences"] == {"reminders": False, "updates": False, "show_paid": True}


async def test_many_users_vote_at_once_and_every_vote_counts(http: httpx.AsyncClient) -> None:
    admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
    voting = await create_voting(http, admin, opens_in=0.5, lasts=120)
    users = await asyncio.gather(*(signup_and_login(http) for _ in range(20)))
    await eventually(await status_is(http, users[0], voting["id"], "open"), timeout=10)
    option = voting["options"][0]["id"]
    responses = await asyncio.gather(
        *(
            http.post(f"/votings/{voting['id']}/votes", headers=user, json={"option_id": option})
            for user in users
            for _ in range(3)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 20 and statuses.count(409) == 40
