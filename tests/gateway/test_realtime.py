"""The WebSocket, on a real HTTP server: vote outcomes from the bus pushed to their voter."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from contracts import Envelope
from contracts.voting import UNANSWERED_OUTCOME, VoteCast, VoteRejected
from services.gateway.realtime import Connected, Sessions, VoteConfirmedPush
from services.gateway.settings import GatewaySettings
from tests.gateway.support import JWT_SECRET, publisher, running, serving, user_token
from tests.support import eventually

# Long enough for a push to cross the broker; what must not arrive is waited for this long.
QUIET_SECONDS = 1.0


@pytest.fixture
async def server(app: FastAPI) -> AsyncIterator[str]:
    async with serving(app) as address:
        yield address


async def two_users(app: FastAPI) -> tuple[tuple[str, str], tuple[str, str]]:
    """Two users, each as (id, access token)."""
    async with running(app) as client:
        (ada, ada_token), (bob, bob_token) = await asyncio.gather(
            user_token(client), user_token(client)
        )
    return (ada["id"], ada_token), (bob["id"], bob_token)


async def receive(socket: ClientConnection, timeout: float = 10.0) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), timeout))
    return message


async def open_socket(server: str, token: str) -> ClientConnection:
    socket = await connect(f"ws://{server}/api/v1/ws?token={token}")
    # Once this arrives, the socket is registered for pushes.
    assert await receive(socket) == {"type": "connected", "user_id": jwt_subject(token)}
    return socket


async def closed_with(socket: ClientConnection, timeout: float = 10.0) -> int | None:
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(socket.recv(), timeout)
    return None if closed.value.rcvd is None else closed.value.rcvd.code


def jwt_subject(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["sub"])


def cast(user_id: str, vote_id: str = "vote-1") -> VoteCast:
    return VoteCast(vote_id=vote_id, voting_id="v1", user_id=user_id, option_id="v1-2", kind="paid")


async def test_a_voter_is_told_when_their_vote_is_counted_and_nobody_else_is(
    app: FastAPI, server: str, gateway_settings: GatewaySettings
) -> None:
    (ada, ada_token), (_, bob_token) = await two_users(app)
    ada_socket = await open_socket(server, ada_token)
    bob_socket = await open_socket(server, bob_token)
    try:
        async with publisher("voting", gateway_settings) as bus:
            await bus.broadcast(Envelope.wrap(cast(ada)), UNANSWERED_OUTCOME)

            assert await receive(ada_socket) == {
                "type": "vote.confirmed",
                "voting_id": "v1",
                "vote_id": "vote-1",
                "option_id": "v1-2",
            }
            with pytest.raises(TimeoutError):
                await receive(bob_socket, timeout=QUIET_SECONDS)
    finally:
        await ada_socket.close()
        await bob_socket.close()


async def test_a_vote_answered_by_its_request_is_not_pushed(
    app: FastAPI, server: str, gateway_settings: GatewaySettings
) -> None:
    (ada, ada_token), _ = await two_users(app)
    socket = await open_socket(server, ada_token)
    free = VoteCast(vote_id="free-1", voting_id="v1", user_id=ada, option_id="v1-1", kind="free")
    rejected = VoteRejected(vote_id="paid-0", voting_id="v1", user_id=ada, reason="NO_CREDIT")
    try:
        async with publisher("voting", gateway_settings) as bus:
            # The events themselves, as voting publishes every outcome.
            for event in (free, cast(ada, vote_id="paid-1"), rejected):
                await bus.publish_event(Envelope.wrap(event))
            # Broadcast after them on the same channel: had one of them been pushed, it
            # would have come first.
            await bus.broadcast(Envelope.wrap(cast(ada, vote_id="paid-2")), UNANSWERED_OUTCOME)

            assert (await receive(socket))["vote_id"] == "paid-2"
    finally:
        await socket.close()


async def test_a_rejected_vote_is_pushed_with_its_reason_to_every_socket_of_the_voter(
    app: FastAPI, server: str, gateway_settings: GatewaySettings
) -> None:
    (ada, ada_token), _ = await two_users(app)
    phone = await open_socket(server, ada_token)
    laptop = await open_socket(server, ada_token)
    rejected = VoteRejected(
        vote_id="vote-2", voting_id="v1", user_id=ada, reason="INSUFFICIENT_CREDITS"
    )
    try:
        async with publisher("voting", gateway_settings) as bus:
            await bus.broadcast(Envelope.wrap(rejected), UNANSWERED_OUTCOME)

            for socket in (phone, laptop):
                assert await receive(socket) == {
                    "type": "vote.rejected",
                    "voting_id": "v1",
                    "vote_id": "vote-2",
                    "reason": "INSUFFICIENT_CREDITS",
                }
    finally:
        await phone.close()
        await laptop.close()


async def test_the_token_may_come_as_a_bearer_header(
    app: FastAPI, server: str, gateway_settings: GatewaySettings
) -> None:
    (ada, ada_token), _ = await two_users(app)

    async with connect(
        f"ws://{server}/api/v1/ws", additional_headers={"Authorization": f"Bearer {ada_token}"}
    ) as socket:
        assert await receive(socket) == {"type": "connected", "user_id": ada}
        async with publisher("voting", gateway_settings) as bus:
            await bus.broadcast(Envelope.wrap(cast(ada)), UNANSWERED_OUTCOME)
            assert (await receive(socket))["type"] == "vote.confirmed"


def _token(secret: str = JWT_SECRET, **claims: Any) -> str:
    now = datetime.now(UTC)
    return jwt.encode(
        {"sub": "u1", "role": "user", "iat": now, "exp": now + timedelta(hours=1), **claims},
        secret,
        algorithm="HS256",
    )


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?token=",
        "?token=not-a-jwt",
        f"?token={_token(secret='a-forger-does-not-know-the-real-secret!')}",
        f"?token={_token(exp=datetime.now(UTC) - timedelta(minutes=1))}",
    ],
    ids=["none", "empty", "garbage", "forged", "expired"],
)
async def test_a_socket_without_a_valid_token_is_closed_with_4401(server: str, query: str) -> None:
    async with connect(f"ws://{server}/api/v1/ws{query}") as socket:
        assert await closed_with(socket) == 4401


async def test_a_socket_is_closed_with_4401_when_its_token_expires(server: str) -> None:
    short_lived = _token(exp=datetime.now(UTC) + timedelta(seconds=2))

    async with connect(f"ws://{server}/api/v1/ws?token={short_lived}") as socket:
        assert (await receive(socket))["type"] == "connected"
        assert await closed_with(socket) == 4401


async def test_a_closed_socket_is_forgotten(app: FastAPI, server: str) -> None:
    (_, ada_token), _ = await two_users(app)
    sessions: Sessions = app.state.gateway.sessions

    socket = await open_socket(server, ada_token)
    assert len(sessions) == 1
    await socket.close()

    await eventually(lambda: len(sessions) == 0, timeout=5)
    assert len(sessions) == 0


# The registry on its own ------------------------------------------------------------


async def test_pushes_go_to_the_users_sessions_only() -> None:
    sessions = Sessions()
    ada_phone, ada_laptop, bob = sessions.open("ada"), sessions.open("ada"), sessions.open("bob")
    push = VoteConfirmedPush(voting_id="v1", vote_id="x", option_id="o")

    assert sessions.push("ada", push) == 2
    assert sessions.push("nobody", push) == 0
    assert await ada_phone.next() == push
    assert await ada_laptop.next() == push
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(bob.next(), 0.05)

    sessions.close(ada_phone)
    sessions.close(ada_phone)  # twice: nothing happens
    assert sessions.push("ada", push) == 1
    assert len(sessions) == 2


async def test_a_session_that_falls_behind_is_marked_not_blocked() -> None:
    sessions = Sessions(capacity=2)
    slow = sessions.open("ada")

    for n in range(3):
        sessions.push("ada", Connected(user_id=str(n)))

    assert slow.overflowed.is_set()
    assert await slow.next() == Connected(user_id="0")


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True),  # a native app or a script
        ("same", True),  # the gateway's own pages
        ("http://evil.example", False),  # another site's page, with the user's token
    ],
)
async def test_only_pages_of_this_site_may_open_a_socket(
    app: FastAPI, server: str, origin: str | None, allowed: bool
) -> None:
    (ada, token), _ = await two_users(app)
    headers = (
        {} if origin is None else {"Origin": f"http://{server}" if origin == "same" else origin}
    )

    async with connect(
        f"ws://{server}/api/v1/ws?token={token}", origin=None, additional_headers=headers
    ) as socket:
        if allowed:
            assert await receive(socket) == {"type": "connected", "user_id": ada}
        else:
            assert await closed_with(socket) == 4403
