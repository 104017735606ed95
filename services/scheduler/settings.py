"""The scheduler's settings, read from the environment (prefix ``LIVEVOTE_``)."""

from __future__ import annotations

from datetime import date, time, timedelta

from pydantic import Field, model_validator

from eventing.settings import RuntimeSettings
from services.scheduler.archive_days import Calendar
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

    # The daily archive: the time of day (UTC) at which the day before is written, late
    # enough for that day's last events to have landed in every service.
    archive_time: time = time(0, 15)
    # How long a day is: shortened (a few seconds) only by tests.
    archive_day_seconds: int = Field(default=86_400, ge=1, le=86_400)
    # The first day to archive; by default the day the first scheduler ever started.
    archive_first_day: date | None = None
    # How long the replica writing the archive keeps other replicas from doing the same
    # (renewed as it writes); a replica that dies writing is taken over after this.
    archive_lease_seconds: float = Field(default=60.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _archive_time_within_a_day(self) -> SchedulerSettings:
        self.calendar  # noqa: B018 - raises when the time of day falls outside the day
        return self

    @property
    def calendar(self) -> Calendar:
        return Calendar.of(timedelta(seconds=self.archive_day_seconds), self.archive_time)

    @property
    def leads(self) -> LeadTimes:
        return LeadTimes(
            reminder=timedelta(seconds=self.reminder_lead_seconds),
            alert=timedelta(seconds=self.alert_lead_seconds),
        )
