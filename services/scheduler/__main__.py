"""The scheduler service: ``python -m services.scheduler``."""

from __future__ import annotations

import asyncio

from eventing.service import run_until_signalled
from services.scheduler.service import SchedulerService
from services.scheduler.settings import SchedulerSettings


def main() -> None:
    asyncio.run(run_until_signalled(SchedulerService(SchedulerSettings())))


if __name__ == "__main__":
    main()
