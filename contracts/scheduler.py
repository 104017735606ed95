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
