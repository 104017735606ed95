"""Abuse limits: wrong passwords per account, logins, signups and votes per caller, and
password hashing that a flood cannot monopolise."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from argon2 import PasswordHasher

from services.gateway.app import create_app
from services.gateway.auth import Passwords
from services.gateway.settings import GatewaySettings
from tests.gateway.support import PASSWORD, bearer, error_of, log_in, peer, running, sign_up
from tests.gateway.test_votings import voting_answers


@asynccontextmanager
async def gateway_with(
    settings: GatewaySettings, **limits: Any
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update=limits))
    async with app.router.lifespan_context(app), running(app) as client:
        yield client


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


def assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert error_of(response)["code"] == "RATE_LIMITED"
    assert int(response.headers["Retry-After"]) >= 1


async def test_too_many_wrong_passwords_lock_the_account_on_every_gateway(
    gateway_settings: GatewaySettings,
) -> None:
    limits = {"login_failures_per_account": 3}
    async with (
        gateway_with(gateway_settings, **limits) as one,
        gateway_with(gateway_settings, **limits) as other,
    ):
        ada, bob = await sign_up(one), await sign_up(one)
        wrong = [
            await login(client, ada["email"], "not the password") for client in (one, other, one)
        ]
        assert [r.status_code for r in wrong] == [401, 401, 401]

        # Even the right password now, on either gateway, until the window ends.
        assert_limited(await login(other, ada["email"], PASSWORD))
        assert_limited(await login(one, ada["email"].upper(), PASSWORD))
        # Nobody else is locked out.
        assert (await login(one, bob["email"], PASSWORD)).status_code == 200


async def test_logins_and_signups_from_one_address_are_limited(
    gateway_settings: GatewaySettings,
) -> None:
    async with gateway_with(
        gateway_settings, login_rate_per_address="3/minute", signup_rate_per_address="2/minute"
    ) as client:
        ada = await sign_up(client)
        await sign_up(client)
        assert_limited(
            await client.post(
                "/api/v1/auth/signup",
                json={"email": "c@example.com", "password": PASSWORD, "display_name": "C"},
            )
        )
        for _ in range(3):
            await log_in(client, ada["email"])
        assert_limited(await login(client, ada["email"], PASSWORD))


async def test_votes_per_user_are_limited(gateway_settings: GatewaySettings) -> None:
    async with gateway_with(gateway_settings, vote_rate_per_user="2/minute") as client:
        ada, bob = await sign_up(client), await sign_up(client)
        ada_token, bob_token = (
            await log_in(client, ada["email"]),
            await log_in(client, bob["email"]),
        )

        async def vote(token: str) -> httpx.Response:
            return await client.post(
                "/api/v1/votings/v1/votes", json={"option_id": "v1-1"}, headers=bearer(token)
            )

        async with peer("voting", gateway_settings, voting_answers()) as voting:
            answers = [await vote(ada_token) for _ in range(3)]
            other = await vote(bob_token)

    assert [a.status_code for a in answers[:2]] == [201, 201]
    assert_limited(answers[2])
    assert other.status_code == 201
    assert len(voting.received) == 3  # the refused vote never reached the voting service


async def test_a_flood_from_one_address_does_not_hold_up_another_login() -> None:
    passwords = Passwords(PasswordHasher(), threads=1, per_caller=1)
    password_hash = await passwords.hash("the real one")
    finished: list[str] = []

    async def check(caller: str) -> None:
        await passwords.verify(password_hash, "a guess", caller)
        finished.append(caller)

    flood = [asyncio.create_task(check("flooder")) for _ in range(12)]
    await asyncio.sleep(0)  # the flood is queued first
    await check("someone")
    # Behind at most the flooder's one hash in progress, not its twelve.
    assert finished.index("someone") <= 2
    await asyncio.gather(*flood)
    passwords.close()
