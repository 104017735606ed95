"""The scheduler's settings, read from the environment (prefix ``LIVEVOTE_``)."""

from __future__ import annotations

from pydantic import Field

from eventing.settings import RuntimeSettings


class SchedulerSettings(RuntimeSettings):
    # How often a replica looks for due timers: the most a timer fires late while the
    # scheduler runs.
    scheduler_tick_seconds: float = Field(default=0.5, gt=0, le=60)
    # How long a claimed timer stays reserved to its replica. Longer than a fire takes;
    # when a replica dies holding claims, its timers fire this much later elsewhere.
    scheduler_lease_seconds: float = Field(default=30.0, gt=0, le=3600)
