"""Probes for Kubernetes, outside the versioned API."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from contracts import ErrorCode
from eventing import metrics
from services.gateway.dependencies import Gateway, GatewayDep
from services.gateway.errors import ApiError, ErrorResponse

router = APIRouter(tags=["health"])

# A probe that hangs is a failed probe; answer before Kubernetes gives up on us.
_CHECK_SECONDS = 2.0


class Health(BaseModel):
    status: str
    checks: dict[str, bool] = {}


@router.get("/healthz")
async def alive() -> Health:
    """The process is up and serving HTTP."""
    return Health(status="ok")


@router.get("/readyz", responses={503: {"model": ErrorResponse}})
async def ready(gateway: GatewayDep) -> Health:
    """The broker is connected and the store answers, so requests can be served."""
    broker, store = await asyncio.gather(
        gateway.runtime.bus.broker.ping(timeout=_CHECK_SECONDS), _store_answers(gateway)
    )
    checks = {"broker": broker, "store": store}
    if not all(checks.values()):
        raise ApiError(ErrorCode.SERVICE_UNAVAILABLE, "not ready", {"checks": checks})
    return Health(status="ready", checks=checks)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def prometheus_metrics(request: Request) -> Response:
    """This process's metrics in Prometheus' text format (eventing.metrics)."""
    return await metrics.metrics(request)


async def _store_answers(gateway: Gateway) -> bool:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(_CHECK_SECONDS):
            await gateway.runtime.db.command("ping")
            return True
    return False
