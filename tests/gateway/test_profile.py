"""Who the caller is (access tokens), their profile and their preferences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from contracts import Envelope, ErrorCode, Message, Reply
from contracts.gateway import PreferencesChanged
from contracts.wallet import GetBalance
from eventing.clock import FixedClock
from eventing.service import ServiceRuntime
from services.gateway.auth import Tokens
from services.gateway.domain import User
from services.gateway.errors import ApiError
from services.gateway.settings import GatewaySettings
from tests.gateway.support import (
    JWT_SECRET,
    bearer,
    error_of,
    peer,
    store_of,
    user_token,
)
from tests.support import eventually


def balance_of(credits: int, reserved: int = 0) -> Any:
    def answer(query: Message) -> Reply:
        assert isinstance(query, GetBalance)
        return Reply.ok(
            {
                "user_id": query.user_id,
                "balance": credits,
                "reserved": reserved,
                "available": credits - reserved,
            }
        )

    return answer


def token(claims: dict[str, Any], secret: str = JWT_SECRET, algorithm: str = "HS256") -> str:
    now = datetime.now(UTC)
    return jwt.encode(
        {"sub": "u1", "role": "user", "iat": now, "exp": now + timedelta(hours=1), **claims},
        secret,
        algorithm=algorithm,
    )


async def test_me_without_a_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/me")

    assert response.status_code == 401
    assert error_of(response)["code"] == "UNAUTHENTICATED"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "credentials",
    [
        "Bearer not-a-jwt",
        f"Bearer {token({}, secret='a-forger-does-not-know-the-real-secret!')}",
        f"Bearer {token({'exp': datetime.now(UTC) - timedelta(seconds=1)})}",
        f"Bearer {token({'role': 'superuser'})}",
        f"Bearer {jwt.encode({'sub': 'u1', 'role': 'admin'}, JWT_SECRET, algorithm='HS256')}",
        f"Bearer {token({}).rsplit('.', 1)[0]}.",  # signature stripped
        f"Basic {token({})}",
        # Signed with the real key, but beyond any date the server can represent ...
        f"Bearer {token({'exp': 10**20})}",
        # ... or later than any token it issues.
        f"Bearer {token({'exp': datetime.now(UTC) + timedelta(days=400)})}",
    ],
    ids=[
        "garbage",
        "forged",
        "expired",
        "unknown-role",
        "no-expiry",
        "unsigned",
        "not-bearer",
        "huge-expiry",
        "far-expiry",
    ],
)
async def test_me_with_a_token_that_is_not_valid_is_401(
    client: httpx.AsyncClient, credentials: str
) -> None:
    response = await client.get("/api/v1/me", headers={"Authorization": credentials})

    assert response.status_code == 401
    assert error_of(response)["code"] == "UNAUTHENTICATED"


async def test_an_expired_token_says_so(client: httpx.AsyncClient) -> None:
    expired = token({"exp": datetime.now(UTC) - timedelta(minutes=1)})

    response = await client.get("/api/v1/me", headers=bearer(expired))

    assert "expired" in error_of(response)["message"]


def test_a_remembered_token_is_refused_from_the_moment_it_expires() -> None:
    # The signature check reads the system's time; the remembered token the clock's.
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    tokens = Tokens(JWT_SECRET, timedelta(seconds=60), clock, remember=10)
    access = tokens.issue("u1", "user")
    assert tokens.verify(access).user_id == "u1"
    clock.advance(timedelta(seconds=59))
    assert tokens.verify(access).user_id == "u1"

    clock.advance(timedelta(seconds=1))
    with pytest.raises(ApiError) as refused:
        tokens.verify(access)

    assert refused.value.code == ErrorCode.UNAUTHENTICATED
    assert "expired" in refused.value.message


def test_a_remembered_token_vouches_only_for_itself() -> None:
    tokens = Tokens(JWT_SECRET, timedelta(seconds=60), remember=10)
    access = tokens.issue("u1", "user")
    tokens.verify(access)
    header, payload, _ = access.split(".")
    forged = jwt.encode({"sub": "u2", "role": "admin", "exp": 2**31}, "not the secret!" * 3)

    for token in (f"{header}.{payload}.", forged, access + "x"):
        with pytest.raises(ApiError):
            tokens.verify(token)


async def test_me_shows_the_profile_with_credits_from_the_wallet(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    user, access = await user_token(client)

    async with peer("wallet", gateway_settings, {GetBalance: balance_of(7)}) as wallet:
        response = await client.get(
            "/api/v1/me", headers={**bearer(access), "X-Correlation-ID": "profile-1"}
        )

    assert response.status_code == 200, response.text
    assert response.json() == {
        "id": user["id"],
        "email": user["email"],
        "display_name": "Ada",
        "role": "user",
        "credits": 7,
        "credits_reserved": 0,
        "preferences": {"reminders": False, "updates": False, "show_paid": True},
    }
    [query] = wallet.received
    assert query.message() == GetBalance(user_id=user["id"])
    assert query.correlation_id == "profile-1"


async def test_credits_are_what_can_be_spent_and_reserved_ones_are_shown_apart(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    _, access = await user_token(client)

    async with peer("wallet", gateway_settings, {GetBalance: balance_of(3, reserved=2)}):
        response = await client.get("/api/v1/me", headers=bearer(access))

    assert response.status_code == 200, response.text
    assert (response.json()["credits"], response.json()["credits_reserved"]) == (1, 2)


async def test_me_is_503_while_the_wallet_does_not_answer(client: httpx.AsyncClient) -> None:
    _, access = await user_token(client)

    response = await client.get("/api/v1/me", headers=bearer(access))

    assert response.status_code == 503
    error = error_of(response)
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert error["details"] == {"service": "wallet"}


async def test_preferences_change_persists_and_is_announced(
    client: httpx.AsyncClient, app: FastAPI, gateway_settings: GatewaySettings
) -> None:
    user, access = await user_token(client)
    announced: list[Envelope] = []

    async def record(event: Message, envelope: Envelope) -> None:
        assert isinstance(event, PreferencesChanged)
        if event.user_id == user["id"]:  # not the admin's, say
            announced.append(envelope)

    notifier = ServiceRuntime("notifier", gateway_settings)
    notifier.serve(events={PreferencesChanged: record}, stand_in=True)
    await notifier.start()
    try:
        response = await client.patch(
            "/api/v1/me/preferences",
            json={"updates": True, "show_paid": False},
            headers={**bearer(access), "X-Correlation-ID": "prefs-1"},
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"reminders": False, "updates": True, "show_paid": False}

        # The defaults at signup, then the change, with all three values.
        await eventually(lambda: len(announced) == 2)
    finally:
        await notifier.stop()

    assert [e.message() for e in announced] == [
        PreferencesChanged(user_id=user["id"], reminders=False, updates=False, show_paid=True),
        PreferencesChanged(user_id=user["id"], reminders=False, updates=True, show_paid=False),
    ]
    assert announced[1].correlation_id == "prefs-1"
    async with peer("wallet", gateway_settings, {GetBalance: balance_of(0)}):
        me = await client.get("/api/v1/me", headers=bearer(access))
    assert me.json()["preferences"] == {"reminders": False, "updates": True, "show_paid": False}


async def test_unchanged_preferences_record_nothing(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user, access = await user_token(client)
    stream = User.stream_name(user["id"])
    before = await store_of(app).version(stream)

    for body in ({}, {"reminders": False}, {"updates": False, "show_paid": True}):
        response = await client.patch("/api/v1/me/preferences", json=body, headers=bearer(access))
        assert response.status_code == 200
        assert response.json() == {"reminders": False, "updates": False, "show_paid": True}

    assert await store_of(app).version(stream) == before


@pytest.mark.parametrize(
    "body",
    [{"updates": "yes"}, {"reminders": 1}, {"reminder": False}, {"show_paid": None, "x": 1}],
)
async def test_preferences_are_booleans_and_nothing_else(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    _, access = await user_token(client)

    response = await client.patch("/api/v1/me/preferences", json=body, headers=bearer(access))

    assert response.status_code == 422
    assert error_of(response)["code"] == "VALIDATION_ERROR"
