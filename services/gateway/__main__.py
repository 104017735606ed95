"""``python -m services.gateway``: serve the HTTP API with uvicorn."""

from __future__ import annotations

import uvicorn

from eventing.logs import configure_logging
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level, settings.log_format)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        # Keep the structured logging configured above instead of uvicorn's own.
        log_config=None,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
