"""Per-request context: the correlation id, request logs and the last-resort 500.

A plain ASGI middleware rather than ``BaseHTTPMiddleware``, so the structlog context it
binds is the one the route runs in.
"""

from __future__ import annotations

import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts import ErrorCode
from eventing.logs import correlation, get_logger
from services.gateway.errors import error_response

log = get_logger(__name__)

CORRELATION_HEADER = "X-Correlation-ID"
# A caller's id ends up in every log line of the request, so it must be a plain token.
_VALID_CORRELATION_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


async def correlation_id(request: Request) -> str:
    """The correlation id of the request being handled."""
    return str(request.state.correlation_id)


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Request(scope).headers.get(CORRELATION_HEADER, "")
        cid = given if _VALID_CORRELATION_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["correlation_id"] = cid
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
                log.info(
                    "request handled",
                    status=status,
                    duration_ms=round((time.perf_counter() - began) * 1000, 1),
                )
