"""The voting service: ``python -m services.voting`` serves; ``... rebuild-projections``
drops the read models and replays them from the event store."""

from __future__ import annotations

import argparse
import asyncio

from eventing.clock import SystemClock
from eventing.logs import configure_logging, get_logger
from eventing.service import ServiceRuntime, run_until_signalled
from services.voting.handlers import VotingHandlers
from services.voting.store import VotingReadModels

log = get_logger(__name__)


def build() -> tuple[ServiceRuntime, VotingReadModels]:
    runtime = ServiceRuntime("voting")
    read_models = VotingReadModels(runtime.db, runtime.store)
    handlers = VotingHandlers(runtime.store, read_models, SystemClock())
    runtime.serve(commands=handlers.commands(), events=handlers.events())
    return runtime, read_models


async def serve() -> None:
    runtime, read_models = build()
    await read_models.ensure_indexes()
    await run_until_signalled(runtime)


async def rebuild_projections() -> None:
    runtime, read_models = build()
    configure_logging(runtime.name, runtime.settings.log_level, runtime.settings.log_format)
    applied = await read_models.rebuild()
    log.info("read models rebuilt", events=applied)
    await runtime.mongo.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.voting", description=__doc__)
    parser.add_argument(
        "command", nargs="?", choices=["serve", "rebuild-projections"], default="serve"
    )
    args = parser.parse_args()
    asyncio.run(rebuild_projections() if args.command == "rebuild-projections" else serve())


if __name__ == "__main__":
    main()
