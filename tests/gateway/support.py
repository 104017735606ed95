"""Driving the gateway over HTTP, and service peers that answer it over the broker."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from contracts import Envelope, Message, Reply
from eventing.bus import Bus
from eventing.service import ServiceRuntime
from eventing.settings import RuntimeSettings
from eventing.store import EventStore
from services.gateway.dependencies import Gateway

JWT_SECRET = "test-secret-that-is-long-enough-for-hs256"
WEBHOOK_SECRET = "whsec_test_secret_for_signing_webhooks"
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


# What a peer replies to a message: at once, or after some work (a delay, say).
Answer = Callable[[Message], Reply | Awaitable[Reply]]


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
        reply = self.answers[type(message)](message)
        return await reply if inspect.isawaitable(reply) else reply


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


@asynccontextmanager
async def publisher(service: str, settings: RuntimeSettings) -> AsyncIterator[Bus]:
    """A bus to publish events as ``service`` would."""
    bus = Bus(settings, service)
    await bus.start()
    try:
        yield bus
    finally:
        await bus.stop()


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """The app (lifespan started by the caller) behind a real HTTP server on a free port;
    yields its host:port. For what ASGI transports cannot do, such as WebSockets."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_config=None)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the server stopped before it started")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
