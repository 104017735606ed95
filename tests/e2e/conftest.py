"""The whole system as processes: every service started as `make run` starts it."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from scripts.fake_fcm import FakeFcm
from scripts.launch import LOCAL_STRIPE, System, free_port
from tests.conftest import Servers, drop_namespace

ADMIN_EMAIL = "admin@e2e.livevote.dev"
ADMIN_PASSWORD = "e2e-admin-password"
WEBHOOK_SECRET = "whsec_e2e_signing_secret"


@dataclass
class RunningSystem:
    system: System
    namespace: str
    log: Path

    @property
    def api(self) -> str:
        return f"{self.system.base_url}/api/v1"


def start_system(
    servers: Servers, log_dir: Path, replicas: int = 1, **settings: str
) -> RunningSystem:
    """The whole system, ``replicas`` processes of each service, with ``settings``
    (environment variables) on top of the tests' own."""
    namespace = f"e{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "LIVEVOTE_RABBITMQ_URL": servers.rabbitmq_url,
        "LIVEVOTE_MONGODB_URL": servers.mongodb_url,
        "LIVEVOTE_NAMESPACE": namespace,
        "LIVEVOTE_PORT": str(free_port()),
        "LIVEVOTE_ADMIN_EMAIL": ADMIN_EMAIL,
        "LIVEVOTE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "LIVEVOTE_JWT_SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
        "LIVEVOTE_SCHEDULER_TICK_SECONDS": "0.2",
        "LIVEVOTE_RELAY_SWEEP_SECONDS": "0.2",
        "LIVEVOTE_RELAY_GRACE_SECONDS": "1",
        "LIVEVOTE_LOG_FORMAT": "console",
        "LIVEVOTE_STRIPE_API_BASE": LOCAL_STRIPE,
        "LIVEVOTE_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        # Fifty votes of one user at once must all reach the voting service here, to
        # prove it counts one; the per-user limit is proven by the gateway's own tests.
        "LIVEVOTE_VOTE_RATE_PER_USER": "1000/second",
        **settings,
    }
    log = log_dir / f"{namespace}.log"
    system = System(env, output=log.open("w"), replicas=replicas)
    try:
        system.start()
    except Exception as error:
        system.stop()
        output = log.read_text()[-5000:]
        raise RuntimeError(f"the system did not start; its output:\n{output}") from error
    return RunningSystem(system, namespace, log)


@pytest.fixture(scope="session")
def running(
    servers: Servers, fake_fcm: FakeFcm, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSystem]:
    """One system shared by the tests that do not break it."""
    running = start_system(servers, tmp_path_factory.mktemp("e2e"), LIVEVOTE_FCM_URL=fake_fcm.url)
    yield running
    stop_system(running, servers)


def stop_system(running: RunningSystem, servers: Servers) -> None:
    running.system.stop()
    asyncio.run(drop_namespace(servers, running.namespace))


@pytest.fixture
async def http(running: RunningSystem) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=running.api, timeout=15) as client:
        yield client


async def signup_and_login(client: httpx.AsyncClient, name: str | None = None) -> dict[str, str]:
    """A new user's bearer header."""
    email = f"{name or uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:6]}@example.com"
    password = "correct horse battery"
    created = await client.post(
        "/auth/signup", json={"email": email, "password": password, "display_name": "Voter"}
    )
    assert created.status_code == 201, created.text
    return await login(client, email, password)


async def login(client: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    response = await client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def own_system(servers: Servers, fake_fcm: FakeFcm, tmp_path: Path) -> Iterator[RunningSystem]:
    """A system of its own, for a test that breaks things."""
    running = start_system(servers, tmp_path, LIVEVOTE_FCM_URL=fake_fcm.url)
    yield running
    stop_system(running, servers)
