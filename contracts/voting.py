"""Commands, queries and events of the voting service."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from contracts.envelope import Message

VotingKind = Literal["free", "paid"]
VoteStatus = Literal["confirmed", "pending", "rejected"]


class VotingOption(BaseModel):
    id: str
    label: str


# Commands and queries (request-reply on the voting service's command queue).


class ScheduleVoting(Message):
    type = "voting.ScheduleVoting"

    title: str
    description: str
    options: list[str]
    kind: VotingKind
    opens_at: datetime
    closes_at: datetime
    scheduled_by: str


class CastVote(Message):
    type = "voting.CastVote"

    voting_id: str
    user_id: str
    option_id: str


class ListVotings(Message):
    type = "voting.ListVotings"

    user_id: str


class GetVoting(Message):
    type = "voting.GetVoting"

    voting_id: str
    user_id: str


# Events (published on the events exchange).


class VotingScheduled(Message):
    type = "voting.VotingScheduled"
    routing_key = "voting.voting_scheduled"

    voting_id: str
    title: str
    description: str
    kind: VotingKind
    cost: int
    options: list[VotingOption]
    opens_at: datetime
    closes_at: datetime
    scheduled_by: str


class VotingOpened(Message):
    type = "voting.VotingOpened"
    routing_key = "voting.voting_opened"

    voting_id: str
    opened_at: datetime


class VotingClosed(Message):
    type = "voting.VotingClosed"
    routing_key = "voting.voting_closed"

    voting_id: str
    closed_at: datetime


class VoteCast(Message):
    type = "voting.VoteCast"
    routing_key = "voting.vote_cast"

    vote_id: str
    voting_id: str
    user_id: str
    option_id: str
    kind: VotingKind
