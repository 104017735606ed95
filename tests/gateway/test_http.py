"""What every route shares: error format for unknown routes, probes, docs, correlation ids."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from tests.gateway.support import error_of, running


async def test_an_unknown_route_is_404_in_the_error_format(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/nothing-here", "/api/v2/me", "/api", "/docs/nothing"):
        response = await client.get(path)

        assert response.status_code == 404
        assert error_of(response)["code"] == "NOT_FOUND"


async def test_a_wrong_method_is_405_in_the_error_format(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/v1/auth/signup")

    assert response.status_code == 405
    assert error_of(response)["code"] == "METHOD_NOT_ALLOWED"
    assert response.headers["Allow"] == "POST"


async def test_a_wrong_method_names_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/v1/me/devices")

    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, POST"


async def test_an_unexpected_failure_is_500_in_the_error_format(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/api/v1/broken", broken)

    response = await client.get("/api/v1/broken", headers={"X-Correlation-ID": "bug-1"})

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


async def test_the_answers_of_the_gateways_own_layers_are_documented_everywhere(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    operations = [
        (f"{method} {path}", operation)
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    ]

    def documents(operation: dict[str, Any], status: str, code: str) -> bool:
        return code in operation["responses"].get(status, {}).get("description", "")

    def takes(operation: dict[str, Any], where: str, name: str | None = None) -> bool:
        parameters = operation.get("parameters", [])
        return any(p["in"] == where and name in (None, p["name"]) for p in parameters)

    with_body = [(n, o) for n, o in operations if "requestBody" in o]
    keyed = [(n, o) for n, o in operations if takes(o, "header", "Idempotency-Key")]
    with_path = [(n, o) for n, o in operations if takes(o, "path")]

    assert "post /api/v1/auth/signup" in dict(with_body)
    assert "post /api/v1/me/credits/checkout" in dict(keyed)
    assert [n for n, o in with_body if not documents(o, "413", "PAYLOAD_TOO_LARGE")] == []
    assert [n for n, o in keyed if not documents(o, "409", "IDEMPOTENCY_KEY_REUSED")] == []
    assert [n for n, o in with_path if not documents(o, "404", "NOT_FOUND")] == []
    # A route's own 409 keeps its name beside the layer's.
    signup = spec["paths"]["/api/v1/auth/signup"]["post"]
    assert documents(signup, "409", "EMAIL_TAKEN")


async def test_every_endpoint_documents_its_answer_and_its_errors(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    expected = {
        ("post", "/api/v1/votings/{voting_id}/registration"),
        ("post", "/api/v1/votings/{voting_id}/votes"),
        ("get", "/api/v1/votings/{voting_id}/votes/me"),
        ("get", "/api/v1/votings/{voting_id}/results"),
        ("patch", "/api/v1/admin/votings/{voting_id}"),
        ("post", "/api/v1/admin/votings/{voting_id}/cancel"),
        ("post", "/api/v1/admin/votings/{voting_id}/close"),
        ("post", "/api/v1/admin/users/{user_id}/credits"),
        ("get", "/api/v1/credit-packs"),
        ("post", "/api/v1/me/credits/checkout"),
        ("get", "/api/v1/me/credits/ledger"),
        ("get", "/api/v1/me/credits/receipts/{receipt_id}"),
        ("post", "/api/v1/stripe/webhook"),
    }
    operations = {
        (method, path): operation
        for path, methods in spec["paths"].items()
        if path.startswith("/api/v1/")
        for method, operation in methods.items()
    }

    assert expected <= set(operations)
    for (method, path), operation in operations.items():
        answers = operation["responses"]
        success = [status for status in answers if status.startswith("2")]
        assert success, (method, path)
        for status in success:
            if status == "204":  # no content, by definition
                assert "content" not in answers[status], (method, path)
                continue
            if "text/csv" in answers[status]["content"]:
                continue  # a download (results, the archive's files)
            if path.startswith("/api/v1/me/credits/receipts/"):
                assert "application/pdf" in answers[status]["content"], (method, path)
                continue
            assert "schema" in answers[status]["content"]["application/json"], (method, path)
        errors = [status for status in answers if status[0] in "45"]
        assert errors, (method, path)
        for status in errors:
            schema = answers[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path)
    votes = operations[("post", "/api/v1/votings/{voting_id}/votes")]
    assert {"201", "202", "402", "409"} <= set(votes["responses"])
    assert "Location" in votes["responses"]["202"]["headers"]


@pytest.mark.parametrize(
    "body", [b"{not json", b"\xff\xfe not even text", b""], ids=["malformed", "not-utf8", "empty"]
)
async def test_a_body_that_cannot_be_read_is_422_in_the_error_format(
    client: httpx.AsyncClient, body: bytes
) -> None:
    response = await client.post(
        "/api/v1/auth/login", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert error_of(response)["code"] == "VALIDATION_ERROR"
