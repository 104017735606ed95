"""What routes get injected: the running gateway, the correlation id, the caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from contracts import Envelope, ErrorCode, Message
from eventing.bus import ServiceUnavailable
from eventing.service import ServiceRuntime
from services.gateway.errors import ApiError
from services.gateway.middleware import correlation_id
from services.gateway.settings import GatewaySettings
from services.gateway.users import Users


@dataclass(frozen=True)
class Gateway:
    """The gateway's running parts, alive between the app's startup and shutdown."""

    settings: GatewaySettings
    runtime: ServiceRuntime
    users: Users

    async def ask(self, service: str, message: Message, correlation_id: str) -> Any:
        """Send a command or query to ``service``; its result, or its error as an ApiError."""
        envelope = Envelope.wrap(message, correlation_id=correlation_id)
        try:
            reply = await self.runtime.bus.request(service, envelope)
        except ServiceUnavailable:
            raise ApiError(
                ErrorCode.SERVICE_UNAVAILABLE,
                f"the {service} service is not available; try again shortly",
                {"service": service},
            ) from None
        if reply.error is not None:
            raise ApiError.from_reply(reply.error)
        return reply.result


def running_gateway(request: Request) -> Gateway:
    gateway: Gateway | None = getattr(request.app.state, "gateway", None)
    if gateway is None:
        raise ApiError(ErrorCode.SERVICE_UNAVAILABLE, "the gateway is not running")
    return gateway


GatewayDep = Annotated[Gateway, Depends(running_gateway)]
CorrelationId = Annotated[str, Depends(correlation_id)]
