"""The probe server of the services without HTTP: /healthz and /readyz on the real stack."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator

import httpx
import pytest

from eventing.service import ServiceRuntime
from eventing.settings import RuntimeSettings
from scripts.launch import free_port
from tests.conftest import ROOT
from tests.support import eventually


@pytest.fixture
async def runtime(settings: RuntimeSettings) -> AsyncIterator[ServiceRuntime]:
    """A wallet-like runtime with its probe server on a free port."""
    runtime = ServiceRuntime("wallet", settings.model_copy(update={"health_port": 0}))
    runtime.serve()
    await runtime.start()
    yield runtime
    await runtime.stop()


@pytest.fixture
async def probe(runtime: ServiceRuntime) -> AsyncIterator[httpx.AsyncClient]:
    assert runtime.health is not None and runtime.health.port
    base = f"http://127.0.0.1:{runtime.health.port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        yield client


async def test_alive_and_ready_while_everything_is_up(probe: httpx.AsyncClient) -> None:
    alive = await probe.get("/healthz")
    assert (alive.status_code, alive.json()) == (200, {"status": "ok"})
    ready = await probe.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"broker": True, "store": True, "relay": True},
    }


async def test_not_ready_once_the_outbox_relay_has_died(
    runtime: ServiceRuntime, probe: httpx.AsyncClient
) -> None:
    relay = runtime._relay_task
    assert relay is not None
    relay.cancel()
    await asyncio.wait([relay])

    ready = await probe.get("/readyz")
    assert ready.status_code == 503
    error = ready.json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert error["message"] == "not ready: relay"
    assert error["details"]["checks"] == {"broker": True, "store": True, "relay": False}
    assert (await probe.get("/healthz")).status_code == 200


async def test_not_ready_once_the_store_no_longer_answers(
    runtime: ServiceRuntime, probe: httpx.AsyncClient
) -> None:
    await runtime.mongo.close()

    ready = await probe.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["error"]["details"]["checks"] == {
        "broker": True,
        "store": False,
        "relay": True,
    }
    assert (await probe.get("/healthz")).status_code == 200


async def test_not_ready_without_a_broker_connection(
    runtime: ServiceRuntime, probe: httpx.AsyncClient
) -> None:
    # Closed from this side: the shared broker stays up for every other test.
    await runtime.bus.broker.stop()

    ready = await probe.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["error"]["details"]["checks"]["broker"] is False
    assert (await probe.get("/healthz")).status_code == 200


async def test_the_port_is_closed_after_stop(settings: RuntimeSettings) -> None:
    runtime = ServiceRuntime("voting", settings.model_copy(update={"health_port": free_port()}))
    runtime.serve()
    await runtime.start()
    assert runtime.health is not None and runtime.health.port
    url = f"http://127.0.0.1:{runtime.health.port}/healthz"
    async with httpx.AsyncClient(timeout=5) as client:
        assert (await client.get(url)).status_code == 200
        await runtime.stop()
        with pytest.raises(httpx.ConnectError):
            await client.get(url)


async def test_a_busy_port_fails_the_start_instead_of_ending_the_process(
    settings: RuntimeSettings,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        runtime = ServiceRuntime("wallet", settings.model_copy(update={"health_port": port}))
        runtime.serve()
        try:
            with pytest.raises(OSError):
                await runtime.start()
        finally:
            await runtime.stop()


async def test_off_unless_a_port_is_set(settings: RuntimeSettings) -> None:
    assert settings.health_port is None
    assert ServiceRuntime("wallet", settings).health is None


async def test_the_signals_stay_with_the_service(settings: RuntimeSettings) -> None:
    # uvicorn, left to itself, takes SIGTERM and SIGINT over while it serves.
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    runtime = ServiceRuntime("wallet", settings.model_copy(update={"health_port": 0}))
    runtime.serve()
    await runtime.start()
    try:
        assert {sig: signal.getsignal(sig) for sig in before} == before
    finally:
        await runtime.stop()


async def test_a_service_process_is_probed_and_stops_on_sigterm(
    settings: RuntimeSettings,
) -> None:
    """As Kubernetes runs it: probes on the health port, then SIGTERM ends it cleanly."""
    port = free_port()
    env = {
        **os.environ,
        "LIVEVOTE_RABBITMQ_URL": settings.rabbitmq_url,
        "LIVEVOTE_MONGODB_URL": settings.mongodb_url,
        "LIVEVOTE_NAMESPACE": settings.namespace,
        "LIVEVOTE_HEALTH_PORT": str(port),
        "LIVEVOTE_LOG_FORMAT": "console",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.notifier",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:

            async def ready() -> bool:
                if process.returncode is not None:
                    raise AssertionError("the service exited before it was ready")
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(ready, timeout=30)
            assert (await client.get("/healthz")).status_code == 200
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), 20)
        assert process.returncode == 0, output.decode()
        assert b"service stopped" in output
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
