"""Driving the gateway over HTTP, and service peers that answer it over the broker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from contracts import Envelope, Message, Reply
from eventing.service import ServiceRuntime
from eventing.settings import RuntimeSettings
from eventing.store import EventStore
from services.gateway.dependencies import Gateway

JWT_SECRET = "test-secret-that-is-long-enough-for-hs256"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-1"
PASSWORD = "correct horse battery staple"


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client for an app whose lifespan the caller has started."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


def store_of(app: FastAPI) -> EventStore:
    gateway: Gateway = app.state.gateway
    return gateway.runtime.store


def unique_email() -> str:
    return f"user-{uuid.uuid4().hex[:8]}@example.com"


async def sign_up(
    client: httpx.AsyncClient, email: str | None = None, password: str = PASSWORD
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/auth/signup",
        json={"email": email or unique_email(), "password": password, "display_name": "Ada"},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def log_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def user_token(client: httpx.AsyncClient) -> tuple[dict[str, Any], str]:
    """A new user and an access token for them."""
    user = await sign_up(client)
    return user, await log_in(client, user["email"])


async def admin_token(client: httpx.AsyncClient) -> str:
    return await log_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The error of a response, checked to have the API's error format."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


Answer = Callable[[Message], Reply]


class Peer:
    """Another service, as a real process on the broker would be: it answers queries.

    ``answers`` maps message types to what the service replies; every request it gets
    is kept in ``received``.
    """

    def __init__(self, answers: Mapping[type[Message], Answer]) -> None:
        self.answers = dict(answers)
        self.received: list[Envelope] = []

    def handlers(self) -> dict[type[Message], Any]:
        return {message_type: self._handle for message_type in self.answers}

    async def _handle(self, message: Message, envelope: Envelope) -> Reply:
        self.received.append(envelope)
        return self.answers[type(message)](message)


@asynccontextmanager
async def peer(
    service: str, settings: RuntimeSettings, answers: Mapping[type[Message], Answer]
) -> AsyncIterator[Peer]:
    serving = Peer(answers)
    runtime = ServiceRuntime(service, settings)
    runtime.serve(commands=serving.handlers())
    await runtime.start()
    try:
        yield serving
    finally:
        await runtime.stop()
