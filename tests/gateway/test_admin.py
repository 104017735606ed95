"""The admin account from the settings, and what only admins may do."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import datetime
from typing import Any

import httpx
import jwt
import pytest
from pydantic import SecretStr

from contracts import Message, Reply
from contracts.voting import ScheduleVoting
from contracts.wallet import GetBalance
from services.gateway.app import create_app
from services.gateway.domain import EmailClaim, User
from services.gateway.settings import GatewaySettings
from tests.gateway.support import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    admin_token,
    bearer,
    error_of,
    log_in,
    peer,
    running,
    sign_up,
    store_of,
    user_token,
)
from tests.gateway.test_votings import tile

VOTING = {
    "title": "Song of the night",
    "description": "Pick the winner",
    "options": ["First", "Second", "Third"],
    "kind": "paid",
    "opens_at": "2026-12-31T18:00:00+01:00",
    "closes_at": "2026-12-31T19:00:00+01:00",
}


def scheduled(command: Message) -> Reply:
    assert isinstance(command, ScheduleVoting)
    return Reply.ok(tile("new", kind=command.kind, title=command.title, status="scheduled"))


def no_credits(query: Message) -> Reply:
    assert isinstance(query, GetBalance)
    return Reply.ok({"user_id": query.user_id, "balance": 0})


async def admin_streams(settings: GatewaySettings) -> tuple[list[str], list[str]]:
    """The types of the events in the admin's claim and user streams."""
    app = create_app(settings.model_copy(update={"admin_email": None, "admin_password": None}))
    async with app.router.lifespan_context(app):
        store = store_of(app)
        claim = await store.read(EmailClaim.stream_name(ADMIN_EMAIL))
        user = await store.read(User.stream_name(claim[0].payload["user_id"]))
        return [e.type for e in claim], [e.type for e in user]


async def test_the_admin_account_from_the_settings_logs_in_as_admin(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    access = await admin_token(client)

    async with peer("wallet", gateway_settings, {GetBalance: no_credits}):
        response = await client.get("/api/v1/me", headers=bearer(access))

    assert response.status_code == 200, response.text
    assert response.json()["role"] == "admin"
    assert response.json()["email"] == ADMIN_EMAIL


async def test_starting_again_keeps_one_admin_account(gateway_settings: GatewaySettings) -> None:
    for _ in range(2):
        app = create_app(gateway_settings)
        async with app.router.lifespan_context(app), running(app) as client:
            await admin_token(client)

    claim, user = await admin_streams(gateway_settings)
    assert claim == ["gateway.EmailClaimed"]
    assert user == ["gateway.UserRegistered", "gateway.PasswordSet", "gateway.PreferencesChanged"]


async def test_replicas_starting_together_set_up_one_admin_account(
    gateway_settings: GatewaySettings,
) -> None:
    apps = [create_app(gateway_settings) for _ in range(3)]
    async with AsyncExitStack() as stack:
        await asyncio.gather(
            *(stack.enter_async_context(a.router.lifespan_context(a)) for a in apps)
        )
        for app in apps:
            async with running(app) as client:
                await admin_token(client)

    claim, user = await admin_streams(gateway_settings)
    assert claim == ["gateway.EmailClaimed"]
    assert user.count("gateway.UserRegistered") == 1


async def test_a_new_admin_password_in_the_settings_replaces_the_old_one(
    gateway_settings: GatewaySettings,
) -> None:
    app = create_app(gateway_settings)
    async with app.router.lifespan_context(app):
        pass
    changed = gateway_settings.model_copy(update={"admin_password": SecretStr("a new one!")})

    app = create_app(changed)
    async with app.router.lifespan_context(app), running(app) as client:
        old = await client.post(
            "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        assert old.status_code == 401
        await log_in(client, ADMIN_EMAIL, "a new one!")


async def test_a_user_with_the_admin_address_is_made_admin(
    gateway_settings: GatewaySettings,
) -> None:
    without_admin = gateway_settings.model_copy(
        update={"admin_email": None, "admin_password": None}
    )
    app = create_app(without_admin)
    async with app.router.lifespan_context(app), running(app) as client:
        user = await sign_up(client, "boss@example.com", "the user's own password")

    promoted = gateway_settings.model_copy(update={"admin_email": "boss@example.com"})
    app = create_app(promoted)
    async with app.router.lifespan_context(app), running(app) as client:
        access = await log_in(client, "boss@example.com", ADMIN_PASSWORD)
        async with peer("voting", promoted, {ScheduleVoting: scheduled}):
            response = await client.post(
                "/api/v1/admin/votings", json=VOTING, headers=bearer(access)
            )
        assert response.status_code == 201
    events = await _user_events(promoted, user["id"])
    assert events[-2:] == ["gateway.RoleChanged", "gateway.PasswordSet"]


async def test_an_admin_schedules_a_voting(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    access = await admin_token(client)

    async with peer("voting", gateway_settings, {ScheduleVoting: scheduled}) as voting:
        response = await client.post(
            "/api/v1/admin/votings",
            json=VOTING,
            headers={**bearer(access), "X-Correlation-ID": "schedule-1"},
        )

    assert response.status_code == 201, response.text
    assert response.json()["title"] == "Song of the night"
    [command] = voting.received
    assert command.correlation_id == "schedule-1"
    sent = command.message()
    assert isinstance(sent, ScheduleVoting)
    assert sent.options == ["First", "Second", "Third"]
    assert sent.opens_at == datetime.fromisoformat("2026-12-31T17:00:00+00:00")
    assert sent.kind == "paid"
    assert sent.scheduled_by == _subject(access)


async def test_a_user_may_not_schedule_votings(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    _, access = await user_token(client)

    async with peer("voting", gateway_settings, {ScheduleVoting: scheduled}) as voting:
        response = await client.post("/api/v1/admin/votings", json=VOTING, headers=bearer(access))
        anonymous = await client.post("/api/v1/admin/votings", json=VOTING)

    assert response.status_code == 403
    assert error_of(response)["code"] == "FORBIDDEN"
    assert anonymous.status_code == 401
    assert voting.received == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": "  "}, "title"),
        ({"options": ["Only one"]}, "options"),
        ({"options": ["A", 2]}, "options"),
        ({"options": ["A", "A"]}, None),
        ({"kind": "premium"}, "kind"),
        ({"opens_at": "2026-12-31T18:00:00"}, "opens_at"),
        ({"closes_at": "tomorrow"}, "closes_at"),
        ({"closes_at": "2026-12-31T17:59:00+01:00"}, None),
    ],
)
async def test_bad_votings_are_refused_at_the_gateway(
    client: httpx.AsyncClient,
    gateway_settings: GatewaySettings,
    change: dict[str, Any],
    field: str | None,
) -> None:
    access = await admin_token(client)

    async with peer("voting", gateway_settings, {ScheduleVoting: scheduled}) as voting:
        response = await client.post(
            "/api/v1/admin/votings", json={**VOTING, **change}, headers=bearer(access)
        )

    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "VALIDATION_ERROR"
    if field is not None:
        assert all(e["loc"][:2] == ["body", field] for e in error["details"]["errors"])
    assert voting.received == []


def _subject(access: str) -> str:
    return str(jwt.decode(access, options={"verify_signature": False})["sub"])


async def _user_events(settings: GatewaySettings, user_id: str) -> list[str]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        return [e.type for e in await store_of(app).read(User.stream_name(user_id))]


async def test_a_local_admin_address_works(gateway_settings: GatewaySettings) -> None:
    local = gateway_settings.model_copy(update={"admin_email": "Root@Livevote.Local"})
    app = create_app(local)
    async with app.router.lifespan_context(app), running(app) as client:
        await log_in(client, "root@livevote.local", ADMIN_PASSWORD)
