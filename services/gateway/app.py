"""The gateway's FastAPI application and its lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from importlib.metadata import version
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from eventing.logs import get_logger
from eventing.service import ServiceRuntime
from services.gateway.auth import Passwords, Tokens
from services.gateway.body_limit import BodyLimit
from services.gateway.dependencies import Gateway
from services.gateway.errors import ErrorResponse, install_error_handlers
from services.gateway.idempotency import IdempotencyKeys
from services.gateway.middleware import RequestContext
from services.gateway.openapi import install_openapi
from services.gateway.presence import PresenceAnnouncer
from services.gateway.rate_limits import LoginFailures, Rates
from services.gateway.realtime import (
    Sessions,
    notification_pushes,
    push_bindings,
    vote_outcomes,
)
from services.gateway.routes import (
    admin,
    admin_users,
    archive,
    auth,
    credits,
    devices,
    health,
    me,
    notifications,
    operations,
    socket,
    votings,
    webhooks,
)
from services.gateway.security import SecurityHeaders
from services.gateway.settings import GatewaySettings
from services.gateway.users import Users
from services.gateway.web import serve_front_end

log = get_logger(__name__)

API_PREFIX = "/api/v1"

DESCRIPTION = """\
Scheduled live-event votings: sign up, log in, see the votings and vote.

Authenticate with **Authorize**: paste the `access_token` from `POST /api/v1/auth/login`.
Every error is `{"error": {"code", "message", "details"}}`.

**WebSocket** `/api/v1/ws?token=<access token>` (or a bearer `Authorization` header): the
first message is `{"type": "connected", "user_id"}`, then the user's notifications
(`{"type": "notification", "notification": <inbox item>}`) and how each of their paid
votes ends (a free vote's answer is final, so it is not pushed):
`{"type": "vote.confirmed", "voting_id", "vote_id", "option_id"}` or
`{"type": "vote.rejected", "voting_id", "vote_id", "reason"}` (an error code).
A missing, invalid or expired token closes the socket with code 4401; a client that does
not read its messages is closed with 1008 and should reconnect.
"""


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.jwt_secret_generated:
            log.warning(
                "LIVEVOTE_JWT_SECRET is not set: access tokens are signed with a random key, "
                "so they stop working when the gateway restarts and are not accepted by "
                "other replicas"
            )
        if settings.stripe_webhook_secret is None:
            log.warning(
                "LIVEVOTE_STRIPE_WEBHOOK_SECRET is not set: Stripe webhooks are answered 503 "
                "and no purchase is credited until it is"
            )
        runtime = ServiceRuntime("gateway", settings)
        runtime.serve()
        sessions = Sessions()
        pushes = vote_outcomes(sessions).merge(notification_pushes(sessions))
        runtime.bus.consume_broadcast(pushes, push_bindings())
        presence = PresenceAnnouncer(sessions, runtime.bus, settings.presence_interval_seconds)
        passwords = Passwords(
            threads=settings.hashing_threads, per_caller=settings.hashing_per_address
        )
        try:
            await runtime.start()
            presence.start()
            users = Users(runtime.store, passwords)
            if settings.admin_email is not None and settings.admin_password is not None:
                admin = await users.ensure_admin(
                    settings.admin_email,
                    settings.admin_password.get_secret_value(),
                    settings.admin_display_name,
                )
                log.info("admin account ready", user_id=admin.id)
            idempotency = IdempotencyKeys(runtime.db)
            await idempotency.ensure_indexes()
            login_failures = LoginFailures(runtime.db, settings)
            await login_failures.ensure_indexes()
            app.state.gateway = Gateway(
                settings, runtime, users, sessions, idempotency, Rates(settings), login_failures
            )
            yield
        finally:
            app.state.gateway = None
            await presence.stop()
            await runtime.stop()
            passwords.close()

    app = FastAPI(
        title="livevote",
        version=version("livevote"),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.tokens = Tokens(
        settings.signing_key,
        timedelta(seconds=settings.jwt_ttl_seconds),
        remember=settings.verified_tokens_at_most,
    )
    app.add_middleware(
        BodyLimit,
        limit=settings.max_body_bytes,
        limits_by_path={f"{API_PREFIX}/stripe/webhook": settings.stripe_webhook_max_body_bytes},
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Correlation-ID"],
        expose_headers=["X-Correlation-ID", "Location", "Retry-After"],
    )
    app.add_middleware(SecurityHeaders)
    # Outermost: every answer, a 413 included, carries the correlation id and is logged.
    app.add_middleware(
        RequestContext,
        sample_rate=settings.access_log_sample_rate,
        slow_ms=settings.slow_request_ms,
        api_prefix=API_PREFIX,
    )
    install_error_handlers(app)
    install_openapi(app)

    # Documented on every route: FastAPI's own 422 schema is not the shape we answer with.
    validation_error: dict[int | str, dict[str, Any]] = {
        422: {"model": ErrorResponse, "description": "VALIDATION_ERROR"}
    }
    # Routes are matched in order, at some 10 µs each: the vote, the hottest request by
    # far, comes first (last, it cost 150 µs to find). Each part is included in the app
    # itself, not in an API router of its own: FastAPI matches and enters every level of
    # included routers on each request, which cost a vote 20 µs more.
    for part in (
        votings,
        auth,
        me,
        devices,
        notifications,
        credits,
        admin,
        admin_users,
        archive,
        operations,
        webhooks,
        socket,
    ):
        app.include_router(part.router, prefix=API_PREFIX, responses=validation_error)
    app.include_router(health.router)
    serve_front_end(app, settings.web_dir)
    return app
