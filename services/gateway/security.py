"""Browser-facing defences: response headers, cross-origin requests and socket origins.

- Every response says ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy:
  same-origin``; API answers are ``Cache-Control: no-store`` (they carry tokens and
  personal data, which no cache may keep).
- The front end's pages also get a Content-Security-Policy that allows only this origin
  (scripts, styles, images, the API and the WebSocket) and no framing at all
  (``frame-ancestors 'none'``, and ``X-Frame-Options: DENY`` for older browsers). The
  pages need nothing else: the build loads nothing from elsewhere.
- Cross-origin requests are refused by the browser unless their origin is listed in the
  ``cors_origins`` setting (default none: same origin only). A WebSocket has no such
  protection in browsers, so :func:`origin_allowed` checks its ``Origin`` the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_NOT_PAGES = ("/api/", "/docs", "/openapi.json", "/healthz", "/readyz", "/metrics")


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        is_api = path.startswith("/api/")
        is_page = not path.startswith(_NOT_PAGES)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "same-origin"
                if is_api:
                    headers["Cache-Control"] = "no-store"
                if is_page:
                    headers["Content-Security-Policy"] = PAGE_POLICY
                    headers["X-Frame-Options"] = "DENY"
            await send(message)

        await self.app(scope, receive, with_headers)


def origin_allowed(headers: Headers, allowed: Iterable[str]) -> bool:
    """Whether a request's ``Origin`` is this site or one of ``allowed``. A request
    without one (a native app, a script) is not a browser page acting for someone."""
    origin = headers.get("origin")
    if origin is None:
        return True
    host = headers.get("host", "")
    same_site = origin.split("://", 1)[-1] == host
    return same_site or origin in allowed
