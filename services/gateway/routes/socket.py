"""The WebSocket: what happens to the user's votes (and later notifications), pushed live.

Authenticated with the access token, as ``?token=`` (browsers cannot set headers on a
WebSocket) or as a bearer Authorization header. A missing or invalid token, or one that
expires while the socket is open, closes it with 4401.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from eventing.logs import get_logger
from services.gateway.auth import Principal, Tokens
from services.gateway.dependencies import Gateway
from services.gateway.errors import ApiError
from services.gateway.realtime import Connected, Session
from services.gateway.security import origin_allowed

log = get_logger(__name__)

router = APIRouter()

# Close codes: 4401 mirrors HTTP 401 in the 4000-4999 range applications own.
UNAUTHENTICATED = 4401
TRY_AGAIN_LATER = 1013
POLICY_VIOLATION = 1008
FORBIDDEN_ORIGIN = 4403


def _token(websocket: WebSocket) -> str | None:
    token = websocket.query_params.get("token")
    if token:
        return token
    scheme, _, credentials = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def _authenticate(websocket: WebSocket) -> Principal | str:
    """The caller, or why not."""
    token = _token(websocket)
    if token is None:
        return "send the access token as ?token= or as a bearer Authorization header"
    tokens: Tokens = websocket.app.state.tokens
    try:
        return tokens.verify(token)
    except ApiError as error:
        return error.message


@router.websocket("/ws")
async def socket(websocket: WebSocket) -> None:
    gateway: Gateway | None = getattr(websocket.app.state, "gateway", None)
    # Accepted before closing: a close during the handshake reaches the client as a bare
    # HTTP 403, without the code that tells it what to do.
    await websocket.accept()
    if gateway is None:
        await websocket.close(TRY_AGAIN_LATER, "the gateway is not running")
        return
    if not origin_allowed(websocket.headers, gateway.settings.cors_origins):
        # Another site's page would act with the user's token; browsers let any page
        # open a socket anywhere, so the origin is checked here.
        await websocket.close(FORBIDDEN_ORIGIN, "this origin may not open a socket here")
        return
    principal = _authenticate(websocket)
    if isinstance(principal, str):
        await websocket.close(UNAUTHENTICATED, principal)
        return
    session = gateway.sessions.open(principal.user_id)
    try:
        await websocket.send_text(Connected(user_id=principal.user_id).model_dump_json())
        code, reason = await _serve(websocket, session, principal.expires_at)
    except (WebSocketDisconnect, RuntimeError, OSError):
        code, reason = None, ""
    finally:
        gateway.sessions.close(session)
    if code is not None and websocket.client_state == WebSocketState.CONNECTED:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await websocket.close(code, reason)


async def _serve(
    websocket: WebSocket, session: Session, expires_at: datetime | None
) -> tuple[int | None, str]:
    """Send the session's pushes until the client leaves (None) or the socket must be
    closed (the close code and reason)."""
    writer = asyncio.create_task(_write(websocket, session))
    reader = asyncio.create_task(_read(websocket))
    overflow = asyncio.create_task(session.overflowed.wait())
    expiry = asyncio.create_task(_until(expires_at))
    tasks = {writer, reader, overflow, expiry}
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if overflow in done:
        log.warning("closing a WebSocket that does not keep up", user_id=session.user_id)
        return POLICY_VIOLATION, "too many messages waiting; reconnect"
    if expiry in done:
        return UNAUTHENTICATED, "the access token has expired; log in again"
    return None, ""


async def _write(websocket: WebSocket, session: Session) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        while True:
            push = await session.next()
            await websocket.send_text(push.model_dump_json(exclude_none=True))


async def _read(websocket: WebSocket) -> None:
    """Wait for the client to leave; what it sends is not used (yet)."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


async def _until(moment: datetime | None) -> None:
    if moment is None:
        await asyncio.Event().wait()
        return
    await asyncio.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()))
