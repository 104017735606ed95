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

from contracts import ErrorCode, Message, Reply
from contracts.voting import CancelVoting, CloseVoting, RescheduleVoting, ScheduleVoting
from contracts.wallet import GetBalance, GrantCredits
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
    return Reply.ok({"user_id": query.user_id, "balance": 0, "reserved": 0, "available": 0})


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
        # Year 10000 in UTC: no datetime, no store and no consumer can hold it.
        ({"closes_at": "9999-12-31T23:59:59-23:59"}, "closes_at"),
        ({"opens_at": "1969-12-31T23:59:59+00:00"}, "opens_at"),
        ({"closes_at": "3000-01-01T00:00:00+00:00"}, "closes_at"),
        # A number where ISO 8601 text with an offset is promised.
        ({"opens_at": 1893434400}, "opens_at"),
        # Empty once kept to the millisecond, and too short anyway.
        ({"closes_at": "2026-12-31T18:00:00.000001+01:00"}, None),
        ({"closes_at": "2026-12-31T18:00:00.999+01:00"}, None),
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


def lifecycle_answers() -> dict[type[Message], Any]:
    def changed(command: Message) -> Reply:
        assert isinstance(command, RescheduleVoting | CancelVoting | CloseVoting)
        status = {RescheduleVoting: "scheduled", CancelVoting: "cancelled", CloseVoting: "closed"}
        return Reply.ok(tile(command.voting_id, status=status[type(command)]))

    return {RescheduleVoting: changed, CancelVoting: changed, CloseVoting: changed}


async def test_an_admin_reschedules_cancels_and_closes_votings(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    access = await admin_token(client)
    admin_id = _subject(access)
    window = {"opens_at": "2026-12-31T20:00:00+01:00", "closes_at": "2026-12-31T21:00:00+01:00"}

    async with peer("voting", gateway_settings, lifecycle_answers()) as voting:
        moved = await client.patch("/api/v1/admin/votings/v1", json=window, headers=bearer(access))
        cancelled = await client.post("/api/v1/admin/votings/v2/cancel", headers=bearer(access))
        closed = await client.post("/api/v1/admin/votings/v3/close", headers=bearer(access))

    assert [r.status_code for r in (moved, cancelled, closed)] == [200, 200, 200], moved.text
    assert [r.json()["status"] for r in (moved, cancelled, closed)] == [
        "scheduled",
        "cancelled",
        "closed",
    ]
    assert [e.message() for e in voting.received] == [
        RescheduleVoting(
            voting_id="v1",
            opens_at=datetime.fromisoformat("2026-12-31T19:00:00+00:00"),
            closes_at=datetime.fromisoformat("2026-12-31T20:00:00+00:00"),
            requested_by=admin_id,
        ),
        CancelVoting(voting_id="v2", requested_by=admin_id),
        CloseVoting(voting_id="v3", requested_by=admin_id),
    ]


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        (Reply.fail(ErrorCode.NOT_FOUND, "no such voting", voting_id="v1"), 404),
        (Reply.fail(ErrorCode.VOTING_ALREADY_OPEN, "only before it opens", status="open"), 409),
        (Reply.fail(ErrorCode.VOTING_CLOSED, "this voting is already closed"), 409),
        (Reply.fail(ErrorCode.VOTING_NOT_OPEN, "cancel it instead", opens_at="2026-12-31"), 409),
    ],
    ids=lambda value: value.error.code if isinstance(value, Reply) and value.error else None,
)
async def test_a_refused_lifecycle_change_passes_the_reason_on(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings, reply: Reply, status: int
) -> None:
    access = await admin_token(client)
    window = {"opens_at": "2026-12-31T20:00:00+01:00", "closes_at": "2026-12-31T21:00:00+01:00"}
    answers: dict[type[Message], Any] = {
        command: lambda _: reply for command in (RescheduleVoting, CancelVoting, CloseVoting)
    }

    async with peer("voting", gateway_settings, answers):
        responses = [
            await client.patch("/api/v1/admin/votings/v1", json=window, headers=bearer(access)),
            await client.post("/api/v1/admin/votings/v1/cancel", headers=bearer(access)),
            await client.post("/api/v1/admin/votings/v1/close", headers=bearer(access)),
        ]

    assert reply.error is not None
    for response in responses:
        assert response.status_code == status
        assert error_of(response) == reply.error.model_dump(mode="json")


async def test_users_may_not_change_votings(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    _, access = await user_token(client)
    window = {"opens_at": "2026-12-31T20:00:00+01:00", "closes_at": "2026-12-31T21:00:00+01:00"}

    async with peer("voting", gateway_settings, lifecycle_answers()) as voting:
        for headers in (bearer(access), {}):
            responses = [
                await client.patch("/api/v1/admin/votings/v1", json=window, headers=headers),
                await client.post("/api/v1/admin/votings/v1/cancel", headers=headers),
                await client.post("/api/v1/admin/votings/v1/close", headers=headers),
            ]
            expected = 403 if headers else 401
            assert [r.status_code for r in responses] == [expected] * 3
            assert {error_of(r)["code"] for r in responses} == {
                "FORBIDDEN" if headers else "UNAUTHENTICATED"
            }

    assert voting.received == []


@pytest.mark.parametrize(
    "body",
    [
        {"opens_at": "2026-12-31T20:00:00+01:00"},
        {"opens_at": "2026-12-31T20:00:00", "closes_at": "2026-12-31T21:00:00+01:00"},
        {"opens_at": "2026-12-31T21:00:00+01:00", "closes_at": "2026-12-31T20:00:00+01:00"},
        {"opens_at": "2026-12-31T20:00:00+01:00", "closes_at": "2026-12-31T21:00:00+01:00", "x": 1},
        {"opens_at": "2026-12-31T20:00:00+01:00", "closes_at": "9999-12-31T23:59:59-23:59"},
        {"opens_at": 1893434400, "closes_at": "2026-12-31T21:00:00+01:00"},
        {"opens_at": "2026-12-31T20:00:00+01:00", "closes_at": "2026-12-31T20:00:00.0001+01:00"},
    ],
    ids=["one-time", "no-offset", "backwards", "unknown-field", "year-10000", "unix", "1us"],
)
async def test_a_bad_reschedule_is_refused_at_the_gateway(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings, body: dict[str, Any]
) -> None:
    access = await admin_token(client)

    async with peer("voting", gateway_settings, lifecycle_answers()) as voting:
        response = await client.patch("/api/v1/admin/votings/v1", json=body, headers=bearer(access))

    assert response.status_code == 422
    assert error_of(response)["code"] == "VALIDATION_ERROR"
    assert voting.received == []


def granted(command: Message) -> Reply:
    assert isinstance(command, GrantCredits)
    return Reply.ok(
        {
            "user_id": command.user_id,
            "balance": command.amount,
            "reserved": 0,
            "available": command.amount,
        }
    )


# JSON Schema's integer, as the API's schema says: 67.0 is one ("67" and true are not).
@pytest.mark.parametrize(("amount", "credits"), [(5, 5), (67.0, 67)])
async def test_an_admin_grants_credits(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings, amount: float, credits: int
) -> None:
    user, _ = await user_token(client)
    access = await admin_token(client)

    async with peer("wallet", gateway_settings, {GrantCredits: granted}) as wallet:
        response = await client.post(
            f"/api/v1/admin/users/{user['id']}/credits",
            json={"amount": amount, "reason": "  goodwill  "},
            headers={**bearer(access), "X-Correlation-ID": "grant-1"},
        )

    assert response.status_code == 201, response.text
    assert response.json() == {
        "user_id": user["id"],
        "balance": credits,
        "reserved": 0,
        "available": credits,
    }
    [command] = wallet.received
    assert command.message() == GrantCredits(
        user_id=user["id"], amount=credits, reason="goodwill", granted_by=_subject(access)
    )
    assert command.correlation_id == "grant-1"


async def test_a_grant_retried_with_its_idempotency_key_is_the_same_command(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    (ada, _), (bob, _) = await asyncio.gather(user_token(client), user_token(client))
    access = await admin_token(client)

    async with peer("wallet", gateway_settings, {GrantCredits: granted}) as wallet:
        for user in (ada, ada, bob):
            response = await client.post(
                f"/api/v1/admin/users/{user['id']}/credits",
                json={"amount": 1, "reason": "sorry"},
                headers={**bearer(access), "Idempotency-Key": "ticket-42"},
            )
            assert response.status_code == 201

    first, retry, other = (e.message_id for e in wallet.received)
    assert first == retry != other


async def test_credits_for_a_user_who_does_not_exist_are_404(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    access = await admin_token(client)

    async with peer("wallet", gateway_settings, {GrantCredits: granted}) as wallet:
        response = await client.post(
            "/api/v1/admin/users/nobody/credits",
            json={"amount": 5, "reason": "goodwill"},
            headers=bearer(access),
        )

    assert response.status_code == 404
    assert error_of(response) == {
        "code": "NOT_FOUND",
        "message": "no such user",
        "details": {"user_id": "nobody"},
    }
    assert wallet.received == []


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 0, "reason": "r"},
        {"amount": -3, "reason": "r"},
        {"amount": 1.5, "reason": "r"},
        {"amount": "5", "reason": "r"},
        {"amount": True, "reason": "r"},
        {"amount": 1_000_001, "reason": "r"},
        {"amount": 5},
        {"amount": 5, "reason": "   "},
        {"amount": 5, "reason": "r", "granted_by": "someone else"},
    ],
)
async def test_a_bad_grant_is_refused_at_the_gateway(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings, body: dict[str, Any]
) -> None:
    user, _ = await user_token(client)
    access = await admin_token(client)

    async with peer("wallet", gateway_settings, {GrantCredits: granted}) as wallet:
        response = await client.post(
            f"/api/v1/admin/users/{user['id']}/credits", json=body, headers=bearer(access)
        )

    assert response.status_code == 422
    assert error_of(response)["code"] == "VALIDATION_ERROR"
    assert wallet.received == []


async def test_users_may_not_grant_credits(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    user, access = await user_token(client)
    path = f"/api/v1/admin/users/{user['id']}/credits"
    body = {"amount": 100, "reason": "for me"}

    async with peer("wallet", gateway_settings, {GrantCredits: granted}) as wallet:
        forbidden = await client.post(path, json=body, headers=bearer(access))
        anonymous = await client.post(path, json=body)

    assert forbidden.status_code == 403
    assert error_of(forbidden)["code"] == "FORBIDDEN"
    assert anonymous.status_code == 401
    assert wallet.received == []
