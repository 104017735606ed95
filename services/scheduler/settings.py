"""The scheduler's settings, read from the environment (prefix ``LIVEVOTE_``)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from eventing.settings import RuntimeSettings
from services.scheduler.domain import LeadTimes


class SchedulerSettings(RuntimeSettings):
    # How often a replica looks for due timers: the most a timer fires late while the
    # scheduler runs.
    scheduler_tick_seconds: float = Field(default=0.5, gt=0, le=60)
    # How long a claimed timer stays reserved to its replica. Longer than a fire takes;
    # when a replica dies holding claims, its timers fire this much later elsewhere.
    scheduler_lease_seconds: float = Field(default=30.0, gt=0, le=3600)
    # How long before a voting opens its reminders go out, and before it closes the alerts
    # to users registered who have not voted (read by every service that needs them).
    reminder_lead_seconds: float = Field(default=900, ge=0, le=7 * 24 * 3600)
    alert_lead_seconds: float = Field(default=300, ge=0, le=7 * 24 * 3600)

    @property
    def leads(self) -> LeadTimes:
        return LeadTimes(
            reminder=timedelta(seconds=self.reminder_lead_seconds),
            alert=timedelta(seconds=self.alert_lead_seconds),
        )
