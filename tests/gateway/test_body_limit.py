"""Bodies above the limit are refused with 413 on every route, before they are read."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.gateway.support import error_of

LIMIT = 64 * 1024


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/auth/signup"),
        ("POST", "/api/v1/auth/login"),
        ("PATCH", "/api/v1/me/preferences"),
        ("POST", "/api/v1/admin/votings"),
        ("POST", "/api/v1/votings/v1/votes"),
        ("POST", "/api/v1/nothing-here"),
    ],
)
async def test_a_body_over_the_limit_is_413_on_every_route(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path, content=b"x" * (LIMIT + 1))

    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "PAYLOAD_TOO_LARGE"
    assert error["details"] == {"limit_bytes": LIMIT}


async def test_a_body_without_a_length_is_counted_as_it_arrives(
    client: httpx.AsyncClient,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"x" * 4096

    response = await client.post("/api/v1/auth/login", content=chunks())

    assert response.status_code == 413
    assert error_of(response)["code"] == "PAYLOAD_TOO_LARGE"


async def test_a_body_at_the_limit_is_read(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/login",
        content=b'{"email": "a@example.com", "password": "' + b"x" * (LIMIT - 100) + b'"}',
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 422  # read, and refused for what it says


async def test_stripe_events_may_be_larger_than_client_bodies(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/stripe/webhook", content=b"x" * (LIMIT * 4), headers={"Stripe-Signature": "x"}
    )

    assert response.status_code != 413
