"""The scheduler service: ``python -m services.scheduler``."""

from __future__ import annotations

import asyncio

from eventing.service import run_until_signalled
from services.scheduler.service import SchedulerService
from services.scheduler.settings import SchedulerSettings


async def serve() -> None:
    # Built inside the event loop that runs it, with the broker and store clients it owns.
    await run_until_signalled(SchedulerService(SchedulerSettings()))


def main() -> None:
    asyncio.run(serve())


if __name__ == "__main__":
    main()
