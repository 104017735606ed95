"""A patient client of the API, as a careful app would be while servers come and go.

A request that meets a closed connection, a timeout or a 503 is sent again until
``patience`` runs out. Only requests that are safe to repeat are repeated: reads,
commands carrying an ``Idempotency-Key`` (the same key on every try), and those the
server recognises as done already (a second signup of the same address is a 409).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRIED_STATUSES = frozenset({502, 503, 504})


@dataclass
class User:
    id: str
    email: str
    headers: dict[str, str]
    # When (monotonic) the user's consent to updates was confirmed; None: never given.
    updates_since: float | None = None


@dataclass
class Answer:
    status: int
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def code(self) -> str | None:
        error = self.body.get("error")
        return str(error["code"]) if isinstance(error, dict) else None


class GaveUp(Exception):
    """The system did not answer within the client's patience."""


class Api:
    def __init__(self, base_url: str, patience: float = 120.0) -> None:
        self._http = httpx.AsyncClient(base_url=f"{base_url}/api/v1", timeout=15)
        self._patience = patience
        self.retries = 0

    async def close(self) -> None:
        await self._http.aclose()

    async def call(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        key: str | None = None,
    ) -> Answer:
        """The first answer that is not a passing trouble; raises GaveUp after ``patience``."""
        sent = dict(headers or {})
        if key is not None:
            sent["Idempotency-Key"] = key
        deadline = time.monotonic() + self._patience
        tries = 0
        while True:
            tries += 1
            try:
                response = await self._http.request(
                    method, path, headers=sent, json=json, content=content
                )
                if response.status_code not in RETRIED_STATUSES:
                    body = response.json() if response.content else {}
                    listed = body if isinstance(body, dict) else {"items": body}
                    return Answer(response.status_code, listed)
            except (httpx.TransportError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise GaveUp(f"{method} {path}: no answer within {self._patience:.0f} s")
            self.retries += 1
            await asyncio.sleep(min(0.2 * tries, 2.0))

    async def login(self, email: str, password: str) -> dict[str, str]:
        answer = await self.call("POST", "/auth/login", json={"email": email, "password": password})
        if answer.status != 200:
            raise GaveUp(f"login of {email} answered {answer.status} {answer.code}")
        return {"Authorization": f"Bearer {answer.body['access_token']}"}

    async def sign_up(self, email: str, password: str) -> User:
        """A new user, logged in. A signup retried after its first try went through is
        refused as taken: the account exists, which is what was asked."""
        answer = await self.call(
            "POST",
            "/auth/signup",
            json={"email": email, "password": password, "display_name": "Soak voter"},
        )
        if answer.status not in (201, 409):
            raise GaveUp(f"signup answered {answer.status} {answer.code}")
        headers = await self.login(email, password)
        me = await self.call("GET", "/me", headers=headers)
        return User(id=str(me.body["id"]), email=email, headers=headers)

    async def read(self, path: str, headers: dict[str, str]) -> dict[str, Any]:
        answer = await self.call("GET", path, headers=headers)
        if answer.status != 200:
            raise GaveUp(f"GET {path} answered {answer.status} {answer.code}")
        return answer.body


def new_key() -> str:
    return uuid.uuid4().hex
