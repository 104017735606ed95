"""Commands, queries and events of the voting service."""

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from contracts.envelope import Message
from contracts.values import Moment

VotingKind = Literal["free", "paid"]
VotingStatus = Literal["scheduled", "open", "closed", "cancelled"]
VoteStatus = Literal["confirmed", "pending", "rejected"]

# The shortest voting: shorter ones are a typo, and a store keeping milliseconds would
# make a microsecond window empty.
MIN_WINDOW = timedelta(seconds=1)
# Users asked about in one CountedVoters query: a larger audience asks in parts.
MAX_VOTERS_ASKED = 1000


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
    opens_at: Moment
    closes_at: Moment
    scheduled_by: str


class RescheduleVoting(Message):
    """Move a voting's window; only before it opens. Replies with the tile."""

    type = "voting.RescheduleVoting"

    voting_id: str
    opens_at: Moment
    closes_at: Moment
    requested_by: str


class CancelVoting(Message):
    """Cancel a voting; only before it opens. Replies with the tile."""

    type = "voting.CancelVoting"

    voting_id: str
    requested_by: str


class CloseVoting(Message):
    """Close an open voting now, before its closes_at. Replies with the tile."""

    type = "voting.CloseVoting"

    voting_id: str
    requested_by: str


class RegisterVoter(Message):
    """RSVP: the user takes part. Idempotent. Replies with the tile."""

    type = "voting.RegisterVoter"

    voting_id: str
    user_id: str


class CastVote(Message):
    """Replies ``{"vote_id", "status", "voting_id", "option_id"}``: status "confirmed"
    (counted), or "pending" while a paid vote's credit is being reserved."""

    type = "voting.CastVote"

    voting_id: str
    user_id: str
    option_id: str


class GetMyVote(Message):
    """Replies the user's vote in a voting as CastVote does, NOT_FOUND when none."""

    type = "voting.GetMyVote"

    voting_id: str
    user_id: str


class GetResults(Message):
    """Replies ``{"voting_id", "status", "total", "options": [{"id", "label", "votes"}]}``;
    FORBIDDEN before the voting closed unless ``is_admin``."""

    type = "voting.GetResults"

    voting_id: str
    is_admin: bool = False


class CountedVoters(Message):
    """Of ``user_ids``, those whose vote in the voting is counted (a pending paid vote is
    not yet); replies ``Voters``. For an alert's audience, asked once per voting."""

    type = "voting.CountedVoters"

    voting_id: str
    user_ids: list[str] = Field(max_length=MAX_VOTERS_ASKED)


class Voters(BaseModel):
    user_ids: list[str]


class ListClosedVotings(Message):
    """The votings whose voting ended in ``[since, until)``, on time or closed early
    (cancelled ones never ran), with their counts; replies ``ClosedVotings``."""

    type = "voting.ListClosedVotings"

    since: datetime
    until: datetime


class OptionVotes(BaseModel):
    id: str
    label: str
    votes: int


class ClosedVoting(BaseModel):
    voting_id: str
    title: str
    kind: VotingKind
    cost: int
    opens_at: datetime
    closes_at: datetime
    # When the voting ended: its closing time, or earlier when the operator closed it.
    ended_at: datetime
    options: list[OptionVotes]


class ClosedVotings(BaseModel):
    items: list[ClosedVoting]


class ListVotings(Message):
    """Replies the tiles, by opens_at; paid ones left out unless ``include_paid``."""

    type = "voting.ListVotings"

    user_id: str
    status: VotingStatus | None = None
    include_paid: bool = True


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
    opens_at: Moment
    closes_at: Moment
    scheduled_by: str


class VotingRescheduled(Message):
    type = "voting.VotingRescheduled"
    routing_key = "voting.voting_rescheduled"

    voting_id: str
    opens_at: Moment
    closes_at: Moment


class VotingCancelled(Message):
    type = "voting.VotingCancelled"
    routing_key = "voting.voting_cancelled"

    voting_id: str
    cancelled_at: datetime


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


class VoterRegistered(Message):
    type = "voting.VoterRegistered"
    routing_key = "voting.voter_registered"

    voting_id: str
    user_id: str


class VoteRequested(Message):
    """A paid vote claimed its slot and waits for its credit (the saga's first step)."""

    type = "voting.VoteRequested"
    routing_key = "voting.vote_requested"

    vote_id: str
    voting_id: str
    user_id: str
    option_id: str
    cost: int
    # The voting saga queue the wallet's answer goes to: the one the process holding the
    # request prefers (None, as from earlier versions: the voter's).
    answer_shard: int | None = None


class VoteRejected(Message):
    """A requested vote was not counted; its slot is free again."""

    type = "voting.VoteRejected"
    routing_key = "voting.vote_rejected"

    vote_id: str
    voting_id: str
    user_id: str
    reason: str  # an ErrorCode, e.g. INSUFFICIENT_CREDITS or VOTING_CLOSED


# The routing key of a paid vote's outcome (its VoteCast or VoteRejected) that no request
# in the process that settled it was waiting for: broadcast to the voting processes, one
# of which may hold that request, and to the gateways, for the voter's sockets. An
# outcome its own request answers is not broadcast at all.
UNANSWERED_OUTCOME = "voting.outcome_unanswered"


class VoteCast(Message):
    """A vote was counted (a paid one: its credit was reserved, and is now taken)."""

    type = "voting.VoteCast"
    routing_key = "voting.vote_cast"
    routed_by = "kind"  # the wallet settles paid votes only

    vote_id: str
    voting_id: str
    user_id: str
    option_id: str
    kind: VotingKind
