"""Prometheus metrics of a livevote process (``prometheus-client``'s default registry).

Each process is one service (a pod): the scraper names it by its job and pod, so no
metric carries a service label. Every service counts the messages its handlers took,
by kind (``command``, ``event``, ``broadcast``), message type and outcome, and how
long they took; the relay its commits waiting to be published; the gateway its HTTP
requests by route template (never the raw path, whose ids would make a series each).
The scheduler observes how late its timers fire, the notifier counts its pushes by fate
and its notifications by kind and channel, the wallet tells how many credit
reservations are held.
``GET /metrics`` on the gateway's port and on every worker's health port answers the
text format.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Concatenate, ParamSpec, TypeVar

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M")

# From a cached read to a saga step waiting on the store under load.
_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

MESSAGES_HANDLED = Counter(
    "livevote_messages_handled",
    "Messages this process's handlers took, by kind, message type and outcome (ok, failed).",
    ["kind", "type", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "livevote_handler_seconds",
    "How long a message's handler took, by kind and message type.",
    ["kind", "type"],
    buckets=_SECONDS,
)
OUTBOX_WAITING = Gauge(
    "livevote_outbox_waiting_commits",
    "Commits this process appended that are not published yet (the outbox lag).",
)
TIMER_LATENESS = Histogram(
    "livevote_timer_lateness_seconds",
    "How long after its due time a timer fired, by the event it emitted.",
    ["event"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0),
)
PUSHES = Counter(
    "livevote_pushes",
    "Pushes sent to FCM, by fate (delivered, dead: the token is gone, failed).",
    ["fate"],
)
NOTIFICATIONS = Counter(
    "livevote_notifications",
    "Notifications by kind (reminder, alert, update) and channel: inbox (every one), "
    "in_app (the user was online), push (delivered to a device), push_failed, "
    "no_device (offline with no device).",
    ["kind", "channel"],
)
OPEN_RESERVATIONS = Gauge(
    "livevote_open_credit_reservations",
    "Credits held for paid votes still being confirmed, as the wallet's last sweep counted "
    "them (every wallet process counts them all: take the max, not the sum).",
)
HTTP_REQUESTS = Counter(
    "livevote_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "livevote_http_request_seconds",
    "How long an HTTP request took to answer, by method and route template.",
    ["method", "route"],
    buckets=_SECONDS,
)


def counted(
    kind: str, message_type: str, handler: Callable[Concatenate[M, P], Awaitable[R]]
) -> Callable[Concatenate[M, P], Awaitable[R]]:
    """``handler`` counted in MESSAGES_HANDLED and timed in HANDLER_SECONDS."""
    ok = MESSAGES_HANDLED.labels(kind, message_type, "ok")
    failed = MESSAGES_HANDLED.labels(kind, message_type, "failed")
    seconds = HANDLER_SECONDS.labels(kind, message_type)

    async def handle(message: M, /, *args: P.args, **kwargs: P.kwargs) -> R:
        began = time.perf_counter()
        try:
            result = await handler(message, *args, **kwargs)
        except BaseException:
            failed.inc()
            raise
        finally:
            seconds.observe(time.perf_counter() - began)
        ok.inc()
        return result

    return handle


def http_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_SECONDS.labels(method, route).observe(seconds)


async def metrics(_: Request) -> Response:
    """The text format, for Prometheus to scrape."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
