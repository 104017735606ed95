"""Per-request context: the correlation id, the access log and the last-resort 500.

A plain ASGI middleware rather than ``BaseHTTPMiddleware``, so the context it binds is
the one the route runs in: its log lines carry the correlation id, and the commands it
sends continue the request's conversation (``eventing.logs.current_correlation_id``).
The access log keeps what an operator looks for (every failed or slow request, with its
correlation id) and a sample of the rest: a line for every vote would cost a fifth of
the gateway's CPU at full load.
"""

from __future__ import annotations

import random
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts import ErrorCode
from eventing.logs import correlation, get_logger
from eventing.metrics import http_request
from services.gateway.errors import error_response

log = get_logger(__name__)

CORRELATION_HEADER = "X-Correlation-ID"
# A caller's id ends up in every log line of the request, so it must be a plain token.
_VALID_CORRELATION_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def worth_logging(status: int, duration_ms: float, sample_rate: float, slow_ms: float) -> bool:
    """Failures (a 429 is sampled: a flood of them is the point of refusing) and slow
    requests always; the others with probability ``sample_rate``."""
    failed = status >= 500 or (400 <= status < 500 and status != 429)
    return failed or duration_ms >= slow_ms or random.random() < sample_rate


class RequestContext:
    def __init__(
        self, app: ASGIApp, sample_rate: float = 1.0, slow_ms: float = 1000, api_prefix: str = ""
    ) -> None:
        self.app = app
        self._sample_rate = sample_rate
        self._slow_ms = slow_ms
        self._api_prefix = api_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Request(scope).headers.get(CORRELATION_HEADER, "")
        cid = given if _VALID_CORRELATION_ID.fullmatch(given) else uuid.uuid4().hex
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                MutableHeaders(scope=message)[CORRELATION_HEADER] = cid
            await send(message)

        began = time.perf_counter()
        with correlation(cid, method=scope["method"], path=scope["path"]):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                log.exception("request failed")
                if started:
                    raise
                # Answered here, inside the request's context, so that even this error
                # has the format and the correlation id of every other response.
                response = error_response(
                    500, ErrorCode.INTERNAL_ERROR, "something went wrong on our side"
                )
                await response(scope, receive, send_with_id)
            finally:
                seconds = time.perf_counter() - began
                http_request(scope["method"], self._route(scope), status, seconds)
                duration_ms = seconds * 1000
                if worth_logging(status, duration_ms, self._sample_rate, self._slow_ms):
                    log.info("request handled", status=status, duration_ms=round(duration_ms, 1))

    def _route(self, scope: Scope) -> str:
        """The matched route's template, "unmatched" for none: a route of the versioned
        API names its path below the API's prefix, which the request's path starts with."""
        template = getattr(scope.get("route"), "path", None)
        if not isinstance(template, str):
            return "unmatched"
        if self._api_prefix and scope["path"].startswith(self._api_prefix + "/"):
            return self._api_prefix + template
        return template
