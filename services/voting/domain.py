"""The voting domain: votings, votes, registrations, the calendar and their rules.

Pure: no I/O. Every rule that depends on time takes ``now`` from the caller's clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from contracts import ErrorCode, Message
from contracts.voting import (
    MIN_WINDOW,
    ScheduleVoting,
    VoteCast,
    VoteRejected,
    VoteRequested,
    VoterRegistered,
    VotingCancelled,
    VotingClosed,
    VotingKind,
    VotingOpened,
    VotingOption,
    VotingRescheduled,
    VotingScheduled,
    VotingStatus,
)
from eventing.aggregate import Aggregate

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
    closed_at: datetime | None = None,
) -> VotingStatus:
    """Status follows the clock, whether or not a timer event has arrived yet."""
    if cancelled:
        return "cancelled"
    if now >= closes_at or (closed_at is not None and now >= closed_at):
        return "closed"
    if now >= opens_at:
        return "open"
    return "scheduled"


def to_milliseconds(moment: datetime) -> datetime:
    """Times are kept to the millisecond, the precision of a MongoDB date, so that every
    copy of a voting (events, tiles) states the same instant."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def check_window(opens_at: datetime, closes_at: datetime, now: datetime) -> None:
    if to_milliseconds(closes_at) - to_milliseconds(opens_at) < MIN_WINDOW:
        raise Rejected(
            ErrorCode.VALIDATION_ERROR, "closes_at must be at least one second after opens_at"
        )
    if opens_at < now - SCHEDULING_GRACE:
        raise Rejected(ErrorCode.VALIDATION_ERROR, "opens_at is in the past", now=now.isoformat())


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
        self.opens_at = datetime.min
        self.closes_at = datetime.min
        self.opened = False
        self.closed_at: datetime | None = None
        self.cancelled_at: datetime | None = None

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
        check_window(command.opens_at, command.closes_at, now)
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

    def status(self, now: datetime) -> VotingStatus:
        return voting_status(
            self.opens_at,
            self.closes_at,
            now,
            cancelled=self.cancelled_at is not None,
            closed_at=self.closed_at,
        )

    def _require_scheduled(self, now: datetime, action: str) -> None:
        status = self.status(now)
        if status == "cancelled":
            raise Rejected(ErrorCode.VOTING_CLOSED, "this voting is cancelled")
        if status != "scheduled":
            raise Rejected(
                ErrorCode.VOTING_ALREADY_OPEN,
                f"a voting can only be {action} before it opens",
                status=status,
            )

    def reschedule(self, opens_at: datetime, closes_at: datetime, now: datetime) -> None:
        self._require_scheduled(now, "rescheduled")
        check_window(opens_at, closes_at, now)
        self.trigger(
            VotingRescheduled(
                voting_id=self.id,
                opens_at=to_milliseconds(opens_at),
                closes_at=to_milliseconds(closes_at),
            )
        )

    def cancel(self, now: datetime) -> None:
        self._require_scheduled(now, "cancelled")
        self.trigger(VotingCancelled(voting_id=self.id, cancelled_at=to_milliseconds(now)))

    def close_early(self, now: datetime) -> None:
        status = self.status(now)
        if status == "scheduled":
            raise Rejected(
                ErrorCode.VOTING_NOT_OPEN,
                "a voting can only be closed once it is open; cancel it instead",
                opens_at=self.opens_at.isoformat(),
            )
        if status != "open":
            raise Rejected(ErrorCode.VOTING_CLOSED, "this voting is already closed")
        self.trigger(VotingClosed(voting_id=self.id, closed_at=to_milliseconds(now)))

    def check_participation(self, now: datetime) -> None:
        """Refuse taking part (a vote, a registration) outside the voting's time."""
        status = self.status(now)
        if status == "scheduled":
            raise Rejected(
                ErrorCode.VOTING_NOT_OPEN,
                "this voting is not open yet",
                opens_at=self.opens_at.isoformat(),
            )
        if status == "cancelled":
            raise Rejected(ErrorCode.VOTING_CLOSED, "this voting is cancelled")
        if status == "closed":
            raise Rejected(ErrorCode.VOTING_CLOSED, "this voting is closed")

    def check_vote(self, option_id: str, now: datetime) -> None:
        """Refuse a vote outside the window (server clock) or for an unknown option."""
        self.check_participation(now)
        if option_id not in {option.id for option in self.options}:
            raise Rejected(
                ErrorCode.UNKNOWN_OPTION,
                "this voting has no such option",
                option_id=option_id,
                options=[option.id for option in self.options],
            )

    def check_registration(self, now: datetime) -> None:
        if self.status(now) in ("scheduled", "open"):
            return
        self.check_participation(now)

    def record_opened(self, due_at: datetime) -> None:
        """The opening time was reached; a timer for a window since moved is ignored."""
        if due_at != self.opens_at or self.opened or self.cancelled_at or self.closed_at:
            return
        self.trigger(VotingOpened(voting_id=self.id, opened_at=due_at))

    def record_closed(self, due_at: datetime) -> None:
        """The closing time was reached; a timer for a window since moved is ignored."""
        if due_at != self.closes_at or self.closed_at or self.cancelled_at:
            return
        self.trigger(VotingClosed(voting_id=self.id, closed_at=due_at))

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
            case VotingRescheduled():
                self.opens_at = event.opens_at
                self.closes_at = event.closes_at
            case VotingCancelled():
                self.cancelled_at = event.cancelled_at
            case VotingOpened():
                self.opened = True
            case VotingClosed():
                self.closed_at = event.closed_at


# The calendar: at most N votings open at any instant.


@dataclass(frozen=True)
class Window:
    opens_at: datetime
    closes_at: datetime


class WindowBooked(Message):
    """Private to the voting service: a voting holds this window in the calendar."""

    type = "voting.WindowBooked"

    voting_id: str
    opens_at: datetime
    closes_at: datetime


class WindowReleased(Message):
    """Private: the voting no longer needs its window from ``at`` on (cancelled, closed)."""

    type = "voting.WindowReleased"

    voting_id: str
    at: datetime


def most_overlapping(windows: Iterable[Window], within: Window) -> int:
    """The largest number of ``windows`` open at one instant inside ``within``."""
    points: list[tuple[datetime, int]] = []
    for window in windows:
        start, end = max(window.opens_at, within.opens_at), min(window.closes_at, within.closes_at)
        if start < end:
            points += [(start, 1), (end, -1)]
    # At equal instants a window that ends frees its place before one that starts.
    points.sort(key=lambda point: (point[0], point[1]))
    most = current = 0
    for _, change in points:
        current += change
        most = max(most, current)
    return most


class Calendar(Aggregate):
    """Every voting's window, so that scheduling decides against all of them at once.

    One stream, appended at its version: two admins scheduling at the same moment cannot
    both take the last free place.
    """

    stream_prefix = "calendar"
    # Every voting scheduled, moved or closed passes through.
    snapshot_after = 20
    MAIN = "votings"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.windows: dict[str, Window] = {}

    def book(self, voting_id: str, window: Window, limit: int) -> None:
        others = (w for v, w in self.windows.items() if v != voting_id)
        if most_overlapping(others, window) + 1 > limit:
            raise Rejected(
                ErrorCode.TOO_MANY_CONCURRENT_VOTINGS,
                f"at most {limit} votings may be open at the same time",
                limit=limit,
            )
        if self.windows.get(voting_id) != window:
            self.trigger(
                WindowBooked(
                    voting_id=voting_id, opens_at=window.opens_at, closes_at=window.closes_at
                )
            )

    def release(self, voting_id: str, at: datetime) -> None:
        window = self.windows.get(voting_id)
        if window is not None and at < window.closes_at:
            self.trigger(WindowReleased(voting_id=voting_id, at=at))

    def forget_before(self, moment: datetime) -> None:
        """Windows over by ``moment`` can no longer overlap a new one (keeps the state small)."""
        self.windows = {v: w for v, w in self.windows.items() if w.closes_at > moment}

    def apply(self, event: Message) -> None:
        match event:
            case WindowBooked():
                self.windows[event.voting_id] = Window(event.opens_at, event.closes_at)
            case WindowReleased():
                window = self.windows.get(event.voting_id)
                if window is not None:
                    if event.at <= window.opens_at:
                        del self.windows[event.voting_id]
                    else:
                        self.windows[event.voting_id] = Window(window.opens_at, event.at)


# Votes and registrations: one stream per (voting, user).


VoteState = Literal["none", "pending", "confirmed", "rejected"]


class Vote(Aggregate):
    """One user's vote in one voting: its own stream, so once-only is a unique key.

    A free vote is cast at once. A paid vote is requested first and cast when its credit
    is reserved, or rejected (and its slot freed for another try) when it is not.
    """

    stream_prefix = "vote"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.state: VoteState = "none"
        self.vote_id = ""
        self.voting_id = ""
        self.user_id = ""
        self.option_id = ""
        self.reason: str | None = None

    @classmethod
    def key(cls, voting_id: str, user_id: str) -> str:
        return f"{voting_id}:{user_id}"

    def copy(self) -> Vote:
        """A copy sharing the vote's values, which are all immutable: a deep copy of every
        vote saved was some 4% of the voting service's CPU per free vote."""
        return self._shallow_copy()

    def cast(
        self,
        voting: Voting,
        user_id: str,
        option_id: str,
        now: datetime,
        answer_shard: int | None = None,
    ) -> None:
        """A new vote: counted at once when free, requested when it costs credits (the
        wallet's answer to go to the saga queue ``answer_shard``, or the voter's)."""
        if self.state in ("pending", "confirmed"):
            raise Rejected(
                ErrorCode.ALREADY_VOTED,
                "you have already voted in this voting",
                voting_id=voting.id,
            )
        voting.check_vote(option_id, now)
        vote_id = uuid.uuid4().hex
        if voting.cost == 0:
            self.trigger(
                VoteCast(
                    vote_id=vote_id,
                    voting_id=voting.id,
                    user_id=user_id,
                    option_id=option_id,
                    kind=voting.kind,
                )
            )
        else:
            self.trigger(
                VoteRequested(
                    vote_id=vote_id,
                    voting_id=voting.id,
                    user_id=user_id,
                    option_id=option_id,
                    cost=voting.cost,
                    answer_shard=answer_shard,
                )
            )

    def credit_reserved(
        self, vote_id: str, expires_at: datetime, now: datetime, margin: timedelta
    ) -> None:
        """The saga's third step: count the vote, unless its reservation is about to lapse
        (the wallet would release it by itself)."""
        if self.state != "pending" or self.vote_id != vote_id:
            return
        if now >= expires_at - margin:
            self.reject(vote_id, "RESERVATION_EXPIRED")
            return
        self.trigger(
            VoteCast(
                vote_id=vote_id,
                voting_id=self.voting_id,
                user_id=self.user_id,
                option_id=self.option_id,
                kind="paid",
            )
        )

    def reject(self, vote_id: str, reason: str) -> None:
        if self.state == "pending" and self.vote_id == vote_id:
            self.trigger(
                VoteRejected(
                    vote_id=vote_id, voting_id=self.voting_id, user_id=self.user_id, reason=reason
                )
            )

    def view(self) -> dict[str, Any]:
        """What the voter is told about this vote."""
        view: dict[str, Any] = {
            "vote_id": self.vote_id,
            "status": self.state,
            "voting_id": self.voting_id,
            "option_id": self.option_id,
        }
        if self.reason is not None:
            view["reason"] = self.reason
        return view

    def apply(self, event: Message) -> None:
        match event:
            case VoteRequested():
                self.state = "pending"
                self.vote_id, self.voting_id, self.user_id = (
                    event.vote_id,
                    event.voting_id,
                    event.user_id,
                )
                self.option_id, self.reason = event.option_id, None
            case VoteCast():
                self.state = "confirmed"
                self.vote_id, self.voting_id, self.user_id = (
                    event.vote_id,
                    event.voting_id,
                    event.user_id,
                )
                self.option_id, self.reason = event.option_id, None
            case VoteRejected():
                self.state = "rejected"
                self.reason = event.reason


class Registration(Aggregate):
    """A user taking part in a voting (an RSVP): registered once."""

    stream_prefix = "registration"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.registered = False

    def register(self, voting: Voting, user_id: str, now: datetime) -> None:
        voting.check_registration(now)
        if not self.registered:
            self.trigger(VoterRegistered(voting_id=voting.id, user_id=user_id))

    def apply(self, event: Message) -> None:
        if isinstance(event, VoterRegistered):
            self.registered = True
