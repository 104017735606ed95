"""Headers that protect browsers, and who may call the API from another site."""

from __future__ import annotations

from pathlib import Path

import httpx

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from tests.gateway.support import running


async def test_api_answers_are_never_cached_nor_sniffed(client: httpx.AsyncClient) -> None:
    for answer in (
        await client.post("/api/v1/auth/login", json={"email": "a@example.com", "password": "x"}),
        await client.get("/api/v1/me"),
    ):
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "content-security-policy" not in answer.headers


async def test_pages_allow_only_this_origin_and_no_framing(
    gateway_settings: GatewaySettings, tmp_path: Path
) -> None:
    (tmp_path / "index.html").write_text("<!doctype html>")
    app = create_app(gateway_settings.model_copy(update={"web_dir": tmp_path}))
    async with running(app) as client:
        page = await client.get("/admin")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"


async def test_another_site_may_call_the_api_only_when_listed(
    gateway_settings: GatewaySettings,
) -> None:
    async def preflight(client: httpx.AsyncClient, origin: str) -> httpx.Response:
        return await client.options(
            "/api/v1/auth/login",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )

    app = create_app(gateway_settings)
    async with running(app) as client:
        refused = await preflight(client, "https://app.example.com")
    assert "access-control-allow-origin" not in refused.headers

    listed = gateway_settings.model_copy(update={"cors_origins": ["https://app.example.com"]})
    async with running(create_app(listed)) as client:
        allowed = await preflight(client, "https://app.example.com")
        other = await preflight(client, "https://evil.example")
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "access-control-allow-origin" not in other.headers
