"""Signing up and logging in, on the real store."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from contracts import Envelope
from contracts.gateway import UserRegistered
from services.gateway.domain import EmailClaim, EmailClaimed, User
from tests.gateway.support import PASSWORD, error_of, log_in, sign_up, store_of, unique_email


async def test_signup_creates_an_account(client: httpx.AsyncClient, app: FastAPI) -> None:
    response = await client.post(
        "/api/v1/auth/signup",
        json={"email": "Ada@Example.com", "password": PASSWORD, "display_name": " Ada L. "},
    )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "email", "display_name"}
    assert body["email"] == "ada@example.com"
    assert body["display_name"] == "Ada L."
    events = await store_of(app).read(User.stream_name(body["id"]))
    assert [e.type for e in events] == [
        "gateway.UserRegistered",
        "gateway.PasswordSet",
        "gateway.PreferencesChanged",
    ]
    assert PASSWORD not in str([e.payload for e in events])


async def test_an_email_has_one_account_whatever_its_case(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    first = await sign_up(client, "grace@example.com")
    store = store_of(app)
    before = await store.read(EmailClaim.stream_name("grace@example.com"))

    for email in ("grace@example.com", "GRACE@example.COM", "  Grace@Example.com "):
        response = await client.post(
            "/api/v1/auth/signup",
            json={"email": email, "password": "another password", "display_name": "Imposter"},
        )
        assert response.status_code == 409
        assert error_of(response)["code"] == "EMAIL_TAKEN"

    assert await store.read(EmailClaim.stream_name("grace@example.com")) == before
    assert await store.version(User.stream_name(first["id"])) == 3
    await log_in(client, "GRACE@EXAMPLE.COM")
    rejected = await client.post(
        "/api/v1/auth/login", json={"email": "grace@example.com", "password": "another password"}
    )
    assert rejected.status_code == 401


async def test_concurrent_signups_with_one_email_create_one_account(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    emails = ["race@example.com", "RACE@example.com", "Race@Example.com", "race@EXAMPLE.com"] * 2

    async def attempt(n: int, email: str) -> httpx.Response:
        return await client.post(
            "/api/v1/auth/signup",
            json={"email": email, "password": f"password-{n}", "display_name": f"Racer {n}"},
        )

    responses = await asyncio.gather(*(attempt(n, e) for n, e in enumerate(emails)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (len(emails) - 1)
    winner = next(n for n, r in enumerate(responses) if r.status_code == 201)
    await log_in(client, "race@example.com", f"password-{winner}")
    registrations = [
        event
        async for commit in store_of(app).replay()
        for event in commit.events
        if event.type == UserRegistered.type and event.payload["email"] == "race@example.com"
    ]
    assert len(registrations) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": PASSWORD, "display_name": "Ada"}, "email"),
        ({"email": "not-an-email", "password": PASSWORD, "display_name": "Ada"}, "email"),
        ({"email": "ada@mail.test", "password": PASSWORD, "display_name": "Ada"}, "email"),
        ({"email": "a@example.com", "password": "short", "display_name": "Ada"}, "password"),
        ({"email": "a@example.com", "password": PASSWORD, "display_name": "  "}, "display_name"),
        # 101 characters as sent, though 100 once stripped: the schema's maxLength is 100.
        (
            {"email": "a@example.com", "password": PASSWORD, "display_name": "\t" + "a" * 100},
            "display_name",
        ),
        ({"email": "a@example.com", "password": 12345678, "display_name": "Ada"}, "password"),
        (
            {"email": "a@example.com", "password": PASSWORD, "display_name": "A", "role": "admin"},
            "role",
        ),
    ],
)
async def test_invalid_signups_are_validation_errors_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await client.post("/api/v1/auth/signup", json=body)

    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "VALIDATION_ERROR"
    assert [e["loc"] for e in error["details"]["errors"]] == [["body", field]]
    # Details name the problem without echoing what was sent (a password, say).
    assert all(set(e) == {"loc", "message", "type"} for e in error["details"]["errors"])


async def test_the_schema_tells_which_addresses_are_refused(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    email = spec["components"]["schemas"]["SignupRequest"]["properties"]["email"]
    assert email["format"] == "email"
    documented = re.compile(email["pattern"])

    for address in ("ada@example.com", "ada@mail.test", "b@x.local", "c@localhost", "d@onion"):
        body = {"email": address, "password": PASSWORD, "display_name": "Ada"}
        answer = await client.post("/api/v1/auth/signup", json=body)
        assert answer.status_code in (201, 422), answer.text
        assert (answer.status_code == 201) == bool(documented.search(address)), address


async def test_a_body_that_is_not_json_is_a_validation_error(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/signup", content=b"{not json", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert error_of(response)["code"] == "VALIDATION_ERROR"


async def test_login_returns_a_bearer_token(client: httpx.AsyncClient) -> None:
    user = await sign_up(client)

    response = await client.post(
        "/api/v1/auth/login", json={"email": user["email"].upper(), "password": PASSWORD}
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600


async def test_wrong_password_and_unknown_email_get_the_same_401(
    client: httpx.AsyncClient,
) -> None:
    user = await sign_up(client)

    wrong_password = await client.post(
        "/api/v1/auth/login", json={"email": user["email"], "password": "not the password"}
    )
    unknown_email = await client.post(
        "/api/v1/auth/login", json={"email": unique_email(), "password": PASSWORD}
    )

    assert wrong_password.status_code == unknown_email.status_code == 401
    assert error_of(wrong_password) == error_of(unknown_email)
    assert error_of(wrong_password)["code"] == "UNAUTHENTICATED"


async def test_a_claim_abandoned_by_a_crashed_signup_is_completed_by_the_next_one(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    # What a signup that died between claiming the address and registering leaves behind.
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    orphan = EmailClaimed(email="phoenix@example.com", user_id="orphan-1", claimed_at=long_ago)
    await store_of(app).append(
        EmailClaim.stream_name("phoenix@example.com"), 0, [Envelope.wrap(orphan)]
    )

    user = await sign_up(client, "phoenix@example.com")

    assert user["id"] == "orphan-1"
    await log_in(client, "phoenix@example.com")
    again = await client.post(
        "/api/v1/auth/signup",
        json={"email": "phoenix@example.com", "password": PASSWORD, "display_name": "Again"},
    )
    assert again.status_code == 409


async def test_a_fresh_claim_is_not_taken_over_while_its_signup_may_still_finish(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    claim = EmailClaimed(
        email="inflight@example.com", user_id="inflight-1", claimed_at=datetime.now(UTC)
    )
    await store_of(app).append(
        EmailClaim.stream_name("inflight@example.com"), 0, [Envelope.wrap(claim)]
    )

    response = await client.post(
        "/api/v1/auth/signup",
        json={"email": "inflight@example.com", "password": PASSWORD, "display_name": "Late"},
    )

    assert response.status_code == 409
    assert await store_of(app).version(User.stream_name("inflight-1")) == 0
