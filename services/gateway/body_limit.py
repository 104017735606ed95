"""Request bodies above a size are refused with 413 before they are read.

A body announced larger than the limit (``Content-Length``) is answered at once, without
reading a byte of it; a body sent without a length (chunked) is read here, up to the
limit, and refused as soon as it passes it. Either way the gateway never holds more
than the limit of one request in memory, so a few huge uploads cannot starve everyone
else. (Read here rather than counted on its way to the route: FastAPI answers any
failure while reading a body with a 400 of its own.)
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts import ErrorCode
from services.gateway.errors import error_response


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: int, limits_by_path: dict[str, int]) -> None:
        self.app = app
        self.limit = limit
        self.limits_by_path = limits_by_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits_by_path.get(scope["path"], self.limit)
        announced = _content_length(scope)
        if announced is not None and announced > limit:
            await _refuse(limit, scope, receive, send)
            return
        if announced is not None:
            # The server stops at the announced length: nothing more can arrive.
            await self.app(scope, receive, send)
            return
        body = await _read_up_to(limit, receive)
        if body is None:
            await _refuse(limit, scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


async def _read_up_to(limit: int, receive: Receive) -> bytes | None:
    """The whole body of a request sent without a length, or None past ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(
        413,
        ErrorCode.PAYLOAD_TOO_LARGE,
        f"the request body is larger than {limit} bytes",
        {"limit_bytes": limit},
        # The rest of the body is not read: the connection cannot carry another request.
        headers={"Connection": "close"},
    )
    await response(scope, receive, send)
