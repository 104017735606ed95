"""The access log: every failed or slow request, a sample of the rest."""

from __future__ import annotations

from typing import Any

from structlog.testing import capture_logs

from services.gateway.app import create_app
from services.gateway.middleware import worth_logging
from services.gateway.settings import GatewaySettings
from tests.gateway.support import running


def _handled(logs: list[dict[str, Any]]) -> list[int]:
    return [line["status"] for line in logs if line["event"] == "request handled"]


async def test_failures_are_logged_and_successes_sampled(gateway_settings: GatewaySettings) -> None:
    app = create_app(gateway_settings.model_copy(update={"access_log_sample_rate": 0.0}))
    async with app.router.lifespan_context(app), running(app) as client:
        with capture_logs() as logs:
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/api/v1/me")).status_code == 401
            assert (await client.get("/api/v1/nothing-here")).status_code == 404

    assert _handled(logs) == [401, 404]


async def test_every_request_is_logged_at_a_sample_rate_of_one(
    gateway_settings: GatewaySettings,
) -> None:
    app = create_app(gateway_settings.model_copy(update={"access_log_sample_rate": 1.0}))
    async with app.router.lifespan_context(app), running(app) as client:
        with capture_logs() as logs:
            for _ in range(3):
                assert (await client.get("/healthz")).status_code == 200

    assert _handled(logs) == [200, 200, 200]


def test_slow_requests_and_server_errors_are_always_logged_and_429s_sampled() -> None:
    assert worth_logging(200, 1500.0, sample_rate=0.0, slow_ms=1000)
    assert worth_logging(503, 3.0, sample_rate=0.0, slow_ms=1000)
    assert worth_logging(409, 3.0, sample_rate=0.0, slow_ms=1000)
    assert not worth_logging(429, 3.0, sample_rate=0.0, slow_ms=1000)
    assert not worth_logging(201, 3.0, sample_rate=0.0, slow_ms=1000)
