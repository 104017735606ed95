"""The command line every service process shares.

``python -m services.<name>`` serves until SIGTERM/SIGINT; a service with read models
also offers ``rebuild-projections``, which replaces them by a replay of its event store
(run it while the service is stopped).
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import TypeVar

import uvloop

from eventing.logs import configure_logging, get_logger
from eventing.service import ServiceRuntime, run_until_signalled

log = get_logger(__name__)

S = TypeVar("S", bound=ServiceRuntime)


def service_main(
    build: Callable[[], S], rebuild: Callable[[S], Awaitable[int]] | None = None
) -> None:
    """Parse the command line and run the service ``build`` makes (inside the loop)."""
    commands = ["serve", "rebuild-projections"] if rebuild else ["serve"]
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", nargs="?", choices=commands, default="serve")
    command = parser.parse_args().command

    async def serve() -> None:
        await run_until_signalled(build())

    async def rebuild_projections() -> None:
        assert rebuild is not None
        service = build()
        configure_logging(service.name, service.settings.log_level, service.settings.log_format)
        try:
            log.info("read models rebuilt", events=await rebuild(service))
        finally:
            await service.mongo.close()

    # uvloop: the event loop uvicorn already runs the gateway on, faster than asyncio's own.
    uvloop.run(rebuild_projections() if command == "rebuild-projections" else serve())
