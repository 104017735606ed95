"""What every route shares: error format for unknown routes, probes, docs, correlation ids."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from tests.gateway.support import error_of, running


async def test_an_unknown_route_is_404_in_the_error_format(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/nothing-here", "/api/v2/me", "/"):
        response = await client.get(path)

        assert response.status_code == 404
        assert error_of(response)["code"] == "NOT_FOUND"


async def test_a_wrong_method_is_405_in_the_error_format(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/v1/auth/signup")

    assert response.status_code == 405
    assert error_of(response)["code"] == "METHOD_NOT_ALLOWED"
    assert response.headers["Allow"] == "POST"


async def test_an_unexpected_failure_is_500_in_the_error_format(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/broken", broken)

    response = await client.get("/broken", headers={"X-Correlation-ID": "bug-1"})

    assert response.status_code == 500
    assert error_of(response)["code"] == "INTERNAL_ERROR"
    assert "a bug" not in response.text
    assert response.headers["X-Correlation-ID"] == "bug-1"


async def test_each_response_carries_a_correlation_id(client: httpx.AsyncClient) -> None:
    given = await client.get("/healthz", headers={"X-Correlation-ID": "abc-123"})
    made_up = await client.get("/healthz")
    unsafe = await client.get("/healthz", headers={"X-Correlation-ID": "two words\tand more"})

    assert given.headers["X-Correlation-ID"] == "abc-123"
    assert made_up.headers["X-Correlation-ID"]
    assert unsafe.headers["X-Correlation-ID"] not in ("", "two words\tand more")


async def test_probes_of_a_running_gateway(client: httpx.AsyncClient) -> None:
    alive = await client.get("/healthz")
    ready = await client.get("/readyz")

    assert alive.status_code == 200
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"broker": True, "store": True}}


async def test_a_gateway_that_has_not_started_is_alive_but_not_ready(
    gateway_settings: GatewaySettings,
) -> None:
    app = create_app(gateway_settings)
    async with running(app) as client:
        alive = await client.get("/healthz")
        ready = await client.get("/readyz")

    assert alive.status_code == 200
    assert ready.status_code == 503
    assert error_of(ready)["code"] == "SERVICE_UNAVAILABLE"


async def test_the_api_is_documented_with_bearer_auth(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    docs = await client.get("/docs")

    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert {"/api/v1/auth/signup", "/api/v1/me", "/api/v1/admin/votings"} <= set(spec["paths"])
    me = spec["paths"]["/api/v1/me"]["get"]
    assert me["security"] == [{"HTTPBearer": []}]
    assert me["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ProfileOut"
    }
    signup = spec["paths"]["/api/v1/auth/signup"]["post"]
    assert "security" not in signup
    assert signup["responses"]["409"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"
    }
    assert signup["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"
    }
