"""A gateway app on the real broker and store, and an HTTP client in front of it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from eventing.settings import RuntimeSettings
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from tests.gateway.support import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    JWT_SECRET,
    WEBHOOK_SECRET,
    running,
)


@pytest.fixture
def gateway_settings(settings: RuntimeSettings) -> GatewaySettings:
    return GatewaySettings(
        **{
            **settings.model_dump(),
            # Requests to a service that is not running fail after this long.
            "request_timeout_seconds": 1.0,
        },
        # A vote waits this much longer than other requests.
        voting_confirm_wait_seconds=0.5,
        jwt_secret=JWT_SECRET,
        admin_email=ADMIN_EMAIL,
        admin_password=ADMIN_PASSWORD,
        stripe_webhook_secret=WEBHOOK_SECRET,
    )


@pytest.fixture
async def app(gateway_settings: GatewaySettings) -> AsyncIterator[FastAPI]:
    app = create_app(gateway_settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with running(app) as client:
        yield client
