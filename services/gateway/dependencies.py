"""What routes get injected: the running gateway and the caller's address."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request
from pydantic import BaseModel

from contracts import Envelope, ErrorCode, Message
from eventing.bus import ServiceUnavailable
from eventing.logs import current_correlation_id
from eventing.service import ServiceRuntime
from services.gateway.errors import ApiError
from services.gateway.idempotency import IdempotencyKeys
from services.gateway.rate_limits import LoginFailures, Rates
from services.gateway.realtime import Sessions
from services.gateway.settings import GatewaySettings
from services.gateway.users import Users

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Gateway:
    """The gateway's running parts, alive between the app's startup and shutdown."""

    settings: GatewaySettings
    runtime: ServiceRuntime
    users: Users
    sessions: Sessions
    idempotency: IdempotencyKeys
    rates: Rates
    login_failures: LoginFailures

    async def ask(
        self,
        service: str,
        message: Message,
        *,
        message_id: str | None = None,
        timeout: float | None = None,
        batch: str | None = None,
    ) -> Any:
        """Send a command or query to ``service``, in the conversation of the request being
        handled; its result, or its error as an ApiError.

        A ``message_id`` derived from a client's idempotency key makes a retried request
        the same command to the service, which recognises it. Requests naming the same
        ``batch`` at the same moment travel to the service as one message.
        """
        envelope = Envelope.wrap(
            message, message_id=message_id, correlation_id=current_correlation_id()
        )
        try:
            reply = await self.runtime.bus.request(service, envelope, timeout, batch=batch)
        except ServiceUnavailable:
            raise ApiError(
                ErrorCode.SERVICE_UNAVAILABLE,
                f"the {service} service is not available; try again shortly",
                {"service": service},
            ) from None
        if reply.error is not None:
            raise ApiError.from_reply(reply.error)
        return reply.result

    async def ask_for(
        self,
        answer: type[M],
        service: str,
        message: Message,
        *,
        message_id: str | None = None,
        timeout: float | None = None,
        batch: str | None = None,
    ) -> M:
        """:meth:`ask`, its result read as ``answer``."""
        result = await self.ask(
            service, message, message_id=message_id, timeout=timeout, batch=batch
        )
        return answer.model_validate(result)


async def caller_address(request: Request) -> str:
    """The client's address: the connection's peer, or whom a trusted proxy names."""
    return request.client.host if request.client else ""


async def running_gateway(request: Request) -> Gateway:
    gateway: Gateway | None = getattr(request.app.state, "gateway", None)
    if gateway is None:
        raise ApiError(ErrorCode.SERVICE_UNAVAILABLE, "the gateway is not running")
    return gateway


GatewayDep = Annotated[Gateway, Depends(running_gateway)]
CallerAddress = Annotated[str, Depends(caller_address)]


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Send the same key again when retrying this request (after a timeout, "
        "say): the retry is recognised as the same request instead of being done twice.",
    ),
]
