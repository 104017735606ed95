"""No secret or token in any log line of any process, whoever writes the line."""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.e2e.conftest import ADMIN_PASSWORD, RunningSystem, signup_and_login
from tests.e2e.paid import admin_headers
from tests.support import eventually

pytestmark = pytest.mark.e2e


async def test_tokens_and_passwords_never_reach_the_logs(
    running: RunningSystem, http: httpx.AsyncClient
) -> None:
    user = await signup_and_login(http)
    token = user["Authorization"].removeprefix("Bearer ")
    admin = await admin_headers(http)
    ws_url = running.system.base_url.replace("http://", "ws://")
    async with connect(f"{ws_url}/api/v1/ws?token={token}") as socket:
        assert json.loads(await socket.recv())["type"] == "connected"
    # A request that fails with the token in its query string and in its header.
    await http.get(f"/me?token={token}", headers={"Authorization": "Bearer not-a-token"})
    # A marker request, logged after everything above (a failed one: those are always
    # logged, successes only sampled).
    marker = await http.get(
        "/no-such-route", headers={"X-Correlation-ID": "logs-marker-1", **admin}
    )
    assert marker.status_code == 404

    def logged() -> str | None:
        text = running.log.read_text()
        return text if "logs-marker-1" in text else None

    text = await eventually(logged, timeout=15)
    assert "/api/v1/ws" in text  # the socket was logged ...
    for secret in (token, admin["Authorization"].removeprefix("Bearer "), ADMIN_PASSWORD):
        assert secret not in text  # ... without its token
