"""The notifier service: ``python -m services.notifier`` serves; ``... rebuild-projections``
replaces the recipients read model by a replay of the event store (run it while the
notifier is stopped)."""

from __future__ import annotations

import argparse
import asyncio

from eventing.logs import configure_logging, get_logger
from eventing.service import run_until_signalled
from services.notifier.service import NotifierService

log = get_logger(__name__)


async def serve() -> None:
    # Built inside the event loop that runs it, with the broker and store clients it owns.
    await run_until_signalled(NotifierService())


async def rebuild_projections() -> None:
    service = NotifierService()
    configure_logging(service.name, service.settings.log_level, service.settings.log_format)
    try:
        await service.recipients.ensure_indexes()
        recipients = await service.recipients.rebuild(service.store)
        log.info("read models rebuilt", recipients=recipients)
    finally:
        await service.mongo.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.notifier", description=__doc__)
    parser.add_argument(
        "command", nargs="?", choices=["serve", "rebuild-projections"], default="serve"
    )
    args = parser.parse_args()
    asyncio.run(rebuild_projections() if args.command == "rebuild-projections" else serve())


if __name__ == "__main__":
    main()
