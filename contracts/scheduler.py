"""Events the scheduler emits when a durable timer fires."""

from datetime import datetime

from contracts.envelope import Message


class VotingOpenTimeReached(Message):
    type = "scheduler.VotingOpenTimeReached"
    routing_key = "scheduler.voting_open_time_reached"

    voting_id: str
    due_at: datetime


class VotingCloseTimeReached(Message):
    type = "scheduler.VotingCloseTimeReached"
    routing_key = "scheduler.voting_close_time_reached"

    voting_id: str
    due_at: datetime


class VotingStartingSoon(Message):
    """A voting opens in the reminder lead time (``LIVEVOTE_REMINDER_LEAD_SECONDS``)."""

    type = "scheduler.VotingStartingSoon"
    routing_key = "scheduler.voting_starting_soon"

    voting_id: str
    opens_at: datetime
    due_at: datetime


class VotingClosingSoon(Message):
    """A voting closes in the alert lead time (``LIVEVOTE_ALERT_LEAD_SECONDS``)."""

    type = "scheduler.VotingClosingSoon"
    routing_key = "scheduler.voting_closing_soon"

    voting_id: str
    closes_at: datetime
    due_at: datetime
