"""The operator's live view: is every service up, how full is every queue, what died.

A service is up when it answers a ping through the broker in time (one of its processes
is consuming its command queue); queue facts come from RabbitMQ's management API, and
dead letters are read over AMQP (:mod:`eventing.dead_letters`, shared with the CLI).
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from contracts import Envelope, ErrorCode
from contracts.system import Ping
from contracts.topology import SERVICES, command_queue
from eventing.bus import ServiceUnavailable
from eventing.dead_letters import DeadLetter, DeadLetters, Replayed
from eventing.logs import current_correlation_id
from eventing.queues import QueueFacts, Queues, QueuesUnavailable
from services.gateway.auth import Admin
from services.gateway.dependencies import Gateway, GatewayDep
from services.gateway.errors import ApiError, responses

router = APIRouter(prefix="/admin", tags=["operations"])

_ADMIN = (ErrorCode.UNAUTHENTICATED, ErrorCode.FORBIDDEN, ErrorCode.SERVICE_UNAVAILABLE)

# A ping answered later than this counts as down: the page refreshes every few seconds.
PING_SECONDS = 2.0


class ServiceHealth(BaseModel):
    name: str
    status: Literal["up", "down"]
    latency_ms: float | None
    consumers: int | None = None


class SystemHealth(BaseModel):
    services: list[ServiceHealth]
    queues: list[QueueFacts]
    queues_error: str | None = None
    dead_letters: int


class DeadLetterList(BaseModel):
    items: list[DeadLetter]
    total: int


@router.get("/health", responses=responses(*_ADMIN))
async def health(_: Admin, gateway: GatewayDep) -> SystemHealth:
    """Every service up or down, each queue's depth and consumers, the dead letters."""
    pings = asyncio.gather(*(_ping(gateway, service) for service in SERVICES))
    queues_error = None
    try:
        queues = await Queues(gateway.settings).facts()
    except QueuesUnavailable as error:
        queues, queues_error = [], str(error)
    services = await pings
    consumers = {queue.name: queue.consumers for queue in queues}
    for service in services:
        service.consumers = consumers.get(command_queue(service.name))
    return SystemHealth(
        services=services,
        queues=queues,
        queues_error=queues_error,
        dead_letters=await DeadLetters(gateway.settings).count(),
    )


@router.get("/dead-letters", responses=responses(*_ADMIN, ErrorCode.VALIDATION_ERROR))
async def dead_letters(
    _: Admin, gateway: GatewayDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> DeadLetterList:
    """The oldest dead letters (left in place): type, queue, reason, a piece of the body."""
    items, total = await DeadLetters(gateway.settings).listing(limit)
    return DeadLetterList(items=items, total=total)


@router.post("/dead-letters/replay", responses=responses(*_ADMIN))
async def replay_dead_letters(_: Admin, gateway: GatewayDep) -> Replayed:
    """Send every dead letter back to the queue it died in (once its cause is fixed);
    ``kept`` counts those whose queue is gone."""
    try:
        return await DeadLetters(gateway.settings).replay()
    except ConnectionError as error:
        raise ApiError(ErrorCode.SERVICE_UNAVAILABLE, "the broker is not reachable") from error


async def _ping(gateway: Gateway, service: str) -> ServiceHealth:
    started = time.perf_counter()
    envelope = Envelope.wrap(Ping(), correlation_id=current_correlation_id())
    try:
        await gateway.runtime.bus.request(service, envelope, PING_SECONDS)
    except ServiceUnavailable:
        return ServiceHealth(name=service, status="down", latency_ms=None)
    latency = round((time.perf_counter() - started) * 1000, 1)
    return ServiceHealth(name=service, status="up", latency_ms=latency)
