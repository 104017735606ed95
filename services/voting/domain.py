"""The voting domain: votings, votes and the rules of the vote window. Pure: no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from contracts import ErrorCode, Message
from contracts.voting import (
    ScheduleVoting,
    VoteCast,
    VotingClosed,
    VotingKind,
    VotingOpened,
    VotingOption,
    VotingScheduled,
)
from eventing.aggregate import Aggregate

Status = Literal["scheduled", "open", "closed", "cancelled"]

PAID_VOTE_COST = 1
# A voting may open "now": the admin's clock and ours differ by a little.
SCHEDULING_GRACE = timedelta(minutes=1)


class Rejected(Exception):
    """A command the rules refuse, with the code and details a client can act on."""

    def __init__(self, code: ErrorCode, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


def voting_status(
    opens_at: datetime,
    closes_at: datetime,
    now: datetime,
    *,
    cancelled: bool = False,
    closed_early: bool = False,
) -> Status:
    """Status follows the clock, whether or not a timer event has arrived yet."""
    if cancelled:
        return "cancelled"
    if closed_early or now >= closes_at:
        return "closed"
    if now >= opens_at:
        return "open"
    return "scheduled"


def to_milliseconds(moment: datetime) -> datetime:
    """Times are kept to the millisecond, the precision of a MongoDB date, so that every
    copy of a voting (events, tiles) states the same instant."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def new_option_id(voting_id: str, position: int) -> str:
    return f"{voting_id[:8]}-{position + 1}"


class Voting(Aggregate):
    stream_prefix = "voting"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.title = ""
        self.description = ""
        self.kind: VotingKind = "free"
        self.cost = 0
        self.options: list[VotingOption] = []
        self.opens_at: datetime | None = None
        self.closes_at: datetime | None = None
        self.opened = False
        self.closed_at: datetime | None = None

    @classmethod
    def schedule(cls, voting_id: str, command: ScheduleVoting, now: datetime) -> Voting:
        labels = [label.strip() for label in command.options]
        if len(labels) < 2:
            raise Rejected(ErrorCode.VALIDATION_ERROR, "a voting needs at least two options")
        if any(not label for label in labels):
            raise Rejected(ErrorCode.VALIDATION_ERROR, "option labels must not be empty")
        if len({label.casefold() for label in labels}) != len(labels):
            raise Rejected(ErrorCode.VALIDATION_ERROR, "option labels must be unique")
        if not command.title.strip():
            raise Rejected(ErrorCode.VALIDATION_ERROR, "a voting needs a title")
        if command.opens_at >= command.closes_at:
            raise Rejected(ErrorCode.VALIDATION_ERROR, "opens_at must be before closes_at")
        if command.opens_at < now - SCHEDULING_GRACE:
            raise Rejected(
                ErrorCode.VALIDATION_ERROR, "opens_at is in the past", now=now.isoformat()
            )
        voting = cls(voting_id)
        voting.trigger(
            VotingScheduled(
                voting_id=voting.id,
                title=command.title.strip(),
                description=command.description.strip(),
                kind=command.kind,
                cost=PAID_VOTE_COST if command.kind == "paid" else 0,
                options=[
                    VotingOption(id=new_option_id(voting.id, i), label=label)
                    for i, label in enumerate(labels)
                ],
                opens_at=to_milliseconds(command.opens_at),
                closes_at=to_milliseconds(command.closes_at),
                scheduled_by=command.scheduled_by,
            )
        )
        return voting

    def status(self, now: datetime) -> Status:
        assert self.opens_at is not None and self.closes_at is not None
        closed_early = self.closed_at is not None and self.closed_at < self.closes_at
        return voting_status(self.opens_at, self.closes_at, now, closed_early=closed_early)

    def check_vote(self, option_id: str, now: datetime) -> None:
        """Refuse a vote outside the window (server clock) or for an unknown option."""
        status = self.status(now)
        if status == "scheduled":
            assert self.opens_at is not None
            raise Rejected(
                ErrorCode.VOTING_NOT_OPEN,
                "this voting is not open yet",
                opens_at=self.opens_at.isoformat(),
            )
        if status in ("closed", "cancelled"):
            raise Rejected(ErrorCode.VOTING_CLOSED, "this voting is closed")
        if option_id not in {option.id for option in self.options}:
            raise Rejected(
                ErrorCode.UNKNOWN_OPTION,
                "this voting has no such option",
                option_id=option_id,
                options=[option.id for option in self.options],
            )

    def record_opened(self, now: datetime) -> None:
        if not self.opened:
            self.trigger(VotingOpened(voting_id=self.id, opened_at=now))

    def record_closed(self, now: datetime) -> None:
        if self.closed_at is None:
            self.trigger(VotingClosed(voting_id=self.id, closed_at=now))

    def apply(self, event: Message) -> None:
        match event:
            case VotingScheduled():
                self.title = event.title
                self.description = event.description
                self.kind = event.kind
                self.cost = event.cost
                self.options = list(event.options)
                self.opens_at = event.opens_at
                self.closes_at = event.closes_at
            case VotingOpened():
                self.opened = True
            case VotingClosed():
                self.closed_at = event.closed_at


@dataclass(frozen=True)
class VoteKey:
    voting_id: str
    user_id: str

    def __str__(self) -> str:
        return f"{self.voting_id}:{self.user_id}"


class Vote(Aggregate):
    """One user's vote in one voting: its own stream, so once-only is a unique key."""

    stream_prefix = "vote"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.option_id: str | None = None

    @classmethod
    def cast(cls, voting: Voting, user_id: str, option_id: str, now: datetime) -> Vote:
        voting.check_vote(option_id, now)
        vote = cls(str(VoteKey(voting.id, user_id)))
        vote.trigger(
            VoteCast(
                vote_id=uuid.uuid4().hex,
                voting_id=voting.id,
                user_id=user_id,
                option_id=option_id,
                kind=voting.kind,
            )
        )
        return vote

    def apply(self, event: Message) -> None:
        if isinstance(event, VoteCast):
            self.option_id = event.option_id
