"""The voting service's message handlers: commands, queries and the events it reacts to."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from contracts import Envelope, ErrorCode, Message, Reply
from contracts.scheduler import VotingCloseTimeReached, VotingOpenTimeReached
from contracts.voting import (
    CancelVoting,
    CastVote,
    CloseVoting,
    GetMyVote,
    GetResults,
    GetVoting,
    ListVotings,
    RegisterVoter,
    RescheduleVoting,
    ScheduleVoting,
    VoteCast,
    VoteRejected,
    VoteRequested,
    VoterRegistered,
    VotingCancelled,
    VotingClosed,
    VotingOpened,
    VotingRescheduled,
    VotingScheduled,
)
from contracts.wallet import CreditsReleased, CreditsReservationFailed, CreditsReserved
from eventing.aggregate import Aggregate
from eventing.bus import CommandHandler, EventHandler
from eventing.clock import Clock
from eventing.logs import get_logger
from eventing.repository import CHANGE_ATTEMPTS, A, Repository
from eventing.store import Commit, ConcurrencyConflict, EventStore
from services.voting.domain import Calendar, Registration, Rejected, Vote, Voting, Window
from services.voting.settings import VotingSettings
from services.voting.store import VotingReadModels

log = get_logger(__name__)


_VOTING_CHANGES = (VotingRescheduled, VotingCancelled, VotingOpened, VotingClosed)


def _rejection(rejected: Rejected) -> Reply:
    return Reply.fail(rejected.code, rejected.message, **rejected.details)


def _not_found(voting_id: str) -> Reply:
    return Reply.fail(ErrorCode.NOT_FOUND, "no such voting", voting_id=voting_id)


class RecentVotings:
    """Votings as last loaded, for the vote path.

    Every vote needs its voting's rules, and reading the voting's stream for each of
    thousands of votes a second is the cost avoided here. An entry is dropped as soon as
    any process of the service sees that voting change (a broadcast of its events), and
    is never older than ``ttl`` seconds.
    """

    def __init__(self, repository: Repository[Voting], ttl: float) -> None:
        self._repository = repository
        self._ttl = ttl
        self._entries: dict[str, tuple[float, Voting]] = {}

    async def get(self, voting_id: str) -> Voting | None:
        now = time.monotonic()
        entry = self._entries.get(voting_id)
        if entry is not None and now - entry[0] < self._ttl:
            return entry[1]
        voting = await self._repository.get(voting_id)
        if voting is not None:
            self._entries[voting_id] = (now, voting)
        return voting

    def forget(self, voting_id: str) -> None:
        self._entries.pop(voting_id, None)

    def __contains__(self, voting_id: object) -> bool:
        return voting_id in self._entries


class VotingHandlers:
    def __init__(
        self,
        store: EventStore,
        read_models: VotingReadModels,
        clock: Clock,
        settings: VotingSettings,
    ) -> None:
        self._store = store
        self._votings = Repository(store, Voting)
        self.recent = RecentVotings(self._votings, settings.voting_cache_seconds)
        self._votes = Repository(store, Vote)
        self._registrations = Repository(store, Registration)
        self._calendars = Repository(store, Calendar)
        self._read_models = read_models
        self._clock = clock
        self._settings = settings
        # Paid votes whose CastVote waits for the saga's outcome in this process.
        self._waiting: dict[str, asyncio.Future[Vote]] = {}

    def commands(self) -> Mapping[type[Message], CommandHandler]:
        return {
            ScheduleVoting: self.schedule_voting,
            RescheduleVoting: self.reschedule_voting,
            CancelVoting: self.cancel_voting,
            CloseVoting: self.close_voting,
            RegisterVoter: self.register_voter,
            CastVote: self.cast_vote,
            GetMyVote: self.get_my_vote,
            GetResults: self.get_results,
            ListVotings: self.list_votings,
            GetVoting: self.get_voting,
        }

    def events(self) -> Mapping[type[Message], EventHandler]:
        # Our own events come back from the broker too: the projection that a crash after
        # the append cannot skip (the inline one is only the fast path).
        own: list[type[Message]] = [
            VotingScheduled,
            VotingRescheduled,
            VotingCancelled,
            VotingOpened,
            VotingClosed,
            VoterRegistered,
            VoteRequested,
            VoteCast,
            VoteRejected,
        ]
        return {
            VotingOpenTimeReached: self.open_time_reached,
            VotingCloseTimeReached: self.close_time_reached,
            CreditsReserved: self.credits_reserved,
            CreditsReservationFailed: self.credits_reservation_failed,
            CreditsReleased: self.credits_released,
            **dict.fromkeys(own, self.project),
        }

    def broadcasts(self) -> Mapping[type[Message], EventHandler]:
        """Events every process must see: a voting's rules changed."""
        return dict.fromkeys(_VOTING_CHANGES, self.forget_voting)

    async def forget_voting(self, event: Message, _: Envelope) -> None:
        assert isinstance(event, _VOTING_CHANGES)
        self.recent.forget(event.voting_id)

    # Saving -------------------------------------------------------------------------

    async def _save(
        self, repository: Repository[A], aggregate: A, cause: Envelope
    ) -> Commit | None:
        """Save pending events (if any) and project them at once."""
        if not aggregate.pending:
            return None
        commit = await repository.save(aggregate, cause=cause)
        await self._saved(aggregate)
        return commit

    async def _saved(self, aggregate: Aggregate) -> None:
        if isinstance(aggregate, Voting):
            # This process's votes see the change at once; others when its broadcast comes.
            self.recent.forget(aggregate.id)
        await self._read_models.write(aggregate)

    async def _change(
        self,
        repository: Repository[A],
        aggregate_id: str,
        cause: Envelope,
        change: Callable[[A], None],
        create: bool = False,
        loaded: A | None = None,
    ) -> A | None:
        """Load (or take ``loaded``), change, save and project; on a lost race reload and
        decide again. Returns the aggregate, or None when it does not exist (and
        ``create`` is false)."""
        changed = await repository.change(
            aggregate_id, change, cause=cause, create=create, loaded=loaded
        )
        if changed is None:
            return None
        aggregate, _, saved = changed
        if saved:
            await self._saved(aggregate)
        return aggregate

    async def _book(self, voting_id: str, window: Window, cause: Envelope) -> None:
        def book(calendar: Calendar) -> None:
            calendar.forget_before(self._clock.now())
            calendar.book(voting_id, window, self._settings.voting_max_concurrent)

        await self._change(self._calendars, Calendar.MAIN, cause, book, create=True)

    async def _release(self, voting: Voting, cause: Envelope) -> None:
        at = voting.cancelled_at or voting.closed_at or self._clock.now()
        await self._change(
            self._calendars, Calendar.MAIN, cause, lambda c: c.release(voting.id, at), create=True
        )

    async def _tile(self, voting_id: str, user_id: str) -> Reply:
        tile = await self._read_models.tile(voting_id, user_id, self._clock.now())
        return Reply.ok(tile) if tile is not None else _not_found(voting_id)

    # Votings ------------------------------------------------------------------------

    async def schedule_voting(self, command: Message, envelope: Envelope) -> Reply:
        assert isinstance(command, ScheduleVoting)
        # The voting is named after the command, so a redelivered command finds its
        # voting already scheduled instead of scheduling a second one.
        voting_id = envelope.message_id
        try:
            voting = Voting.schedule(voting_id, command, self._clock.now())
            # The calendar first: a voting that exists has its place, and a crash in
            # between leaves a booking that the command's retry completes.
            await self._book(voting_id, Window(voting.opens_at, voting.closes_at), envelope)
            await self._save(self._votings, voting, envelope)
        except Rejected as rejected:
            return _rejection(rejected)
        except ConcurrencyConflict:
            for event in await self._store.read(Voting.stream_name(voting_id)):
                await self._read_models.apply(event)
        log.info("voting scheduled", voting_id=voting_id)
        return await self._tile(voting_id, command.scheduled_by)

    async def reschedule_voting(self, command: Message, envelope: Envelope) -> Reply:
        assert isinstance(command, RescheduleVoting)
        now = self._clock.now()
        try:
            for _ in range(CHANGE_ATTEMPTS):
                voting = await self._votings.get(command.voting_id)
                if voting is None:
                    return _not_found(command.voting_id)
                voting.reschedule(command.opens_at, command.closes_at, now)
                await self._book(voting.id, Window(voting.opens_at, voting.closes_at), envelope)
                try:
                    await self._save(self._votings, voting, envelope)
                    break
                except ConcurrencyConflict:
                    continue
            else:
                raise ConcurrencyConflict(Voting.stream_name(command.voting_id), -1)
        except Rejected as rejected:
            return _rejection(rejected)
        return await self._tile(command.voting_id, command.requested_by)

    async def cancel_voting(self, command: Message, envelope: Envelope) -> Reply:
        assert isinstance(command, CancelVoting)
        return await self._end(command.voting_id, command.requested_by, envelope, Voting.cancel)

    async def close_voting(self, command: Message, envelope: Envelope) -> Reply:
        assert isinstance(command, CloseVoting)
        return await self._end(
            command.voting_id, command.requested_by, envelope, Voting.close_early
        )

    async def _end(
        self,
        voting_id: str,
        user_id: str,
        envelope: Envelope,
        end: Callable[[Voting, datetime], None],
    ) -> Reply:
        now = self._clock.now()
        try:
            voting = await self._change(self._votings, voting_id, envelope, lambda v: end(v, now))
        except Rejected as rejected:
            return _rejection(rejected)
        if voting is None:
            return _not_found(voting_id)
        await self._release(voting, envelope)
        return await self._tile(voting_id, user_id)

    async def open_time_reached(self, event: Message, envelope: Envelope) -> None:
        assert isinstance(event, VotingOpenTimeReached)
        await self._change(
            self._votings, event.voting_id, envelope, lambda v: v.record_opened(event.due_at)
        )

    async def close_time_reached(self, event: Message, envelope: Envelope) -> None:
        assert isinstance(event, VotingCloseTimeReached)
        await self._change(
            self._votings, event.voting_id, envelope, lambda v: v.record_closed(event.due_at)
        )

    # Taking part --------------------------------------------------------------------

    async def register_voter(self, command: Message, envelope: Envelope) -> Reply:
        assert isinstance(command, RegisterVoter)
        voting = await self._votings.get(command.voting_id)
        if voting is None:
            return _not_found(command.voting_id)
        now = self._clock.now()
        try:
            await self._change(
                self._registrations,
                Vote.key(voting.id, command.user_id),
                envelope,
                lambda r: r.register(voting, command.user_id, now),
                create=True,
            )
        except Rejected as rejected:
            return _rejection(rejected)
        return await self._tile(voting.id, command.user_id)

    async def cast_vote(self, command: Message, envelope: Envelope) -> Reply:
        assert isinstance(command, CastVote)
        voting = await self.recent.get(command.voting_id)
        if voting is None:
            return _not_found(command.voting_id)
        now = self._clock.now()
        vote = await self._first_vote(voting, command, envelope, now)
        if vote is None:
            key = Vote.key(voting.id, command.user_id)
            existing = await self._votes.get(key)
            if existing is not None and envelope.message_id in existing.causes:
                # A redelivered (or retried) command whose vote was stored: answer as before.
                return await self._outcome(existing)
            try:
                vote = await self._change(
                    self._votes,
                    key,
                    envelope,
                    lambda v: v.cast(voting, command.user_id, command.option_id, now),
                    create=True,
                    loaded=existing or Vote(key),
                )
            except Rejected as rejected:
                return _rejection(rejected)
            assert vote is not None
        if vote.state == "pending":
            vote = await self._wait_for_outcome(vote)
        return await self._outcome(vote)

    async def _first_vote(
        self, voting: Voting, command: CastVote, envelope: Envelope, now: datetime
    ) -> Vote | None:
        """The user's first vote in the voting, saved without reading its stream first.

        Most votes are first votes, so this saves a store round trip each. None when the
        stream holds a vote already, or the vote would be refused: the caller then decides
        again from what the stream holds (a redelivery, a second vote, a retry).
        """
        vote = Vote(Vote.key(voting.id, command.user_id))
        try:
            vote.cast(voting, command.user_id, command.option_id, now)
            await self._save(self._votes, vote, envelope)
        except (Rejected, ConcurrencyConflict):
            return None
        return vote

    async def _wait_for_outcome(self, vote: Vote) -> Vote:
        """The saga's outcome within the confirm wait, else the vote as it stands."""
        future = self._waiting.setdefault(vote.vote_id, asyncio.get_running_loop().create_future())
        try:
            async with asyncio.timeout(self._settings.voting_confirm_wait_seconds):
                return await asyncio.shield(future)
        except TimeoutError:
            # Another replica may have decided it meanwhile.
            return await self._votes.get(vote.id) or vote
        finally:
            self._waiting.pop(vote.vote_id, None)

    async def _outcome(self, vote: Vote) -> Reply:
        if vote.state == "rejected":
            if vote.reason == ErrorCode.INSUFFICIENT_CREDITS:
                return Reply.fail(
                    ErrorCode.INSUFFICIENT_CREDITS,
                    "you need a credit to vote in this voting; nothing was debited",
                    vote_id=vote.vote_id,
                    cost=1,
                )
            return Reply.fail(
                ErrorCode.SERVICE_UNAVAILABLE,
                "your vote could not be confirmed in time and was not counted; try again",
                vote_id=vote.vote_id,
                reason=vote.reason,
            )
        return Reply.ok(vote.view())

    async def get_my_vote(self, query: Message, _: Envelope) -> Reply:
        assert isinstance(query, GetMyVote)
        vote = await self._votes.get(Vote.key(query.voting_id, query.user_id))
        if vote is None or vote.state == "none":
            return Reply.fail(ErrorCode.NOT_FOUND, "you have not voted in this voting")
        return Reply.ok(vote.view())

    # The paid-vote saga, voting's side ------------------------------------------------

    async def _settle(
        self, voting_id: str, user_id: str, cause: Envelope, change: Callable[[Vote], None]
    ) -> None:
        vote = await self._change(self._votes, Vote.key(voting_id, user_id), cause, change)
        if vote is not None and vote.state in ("confirmed", "rejected"):
            future = self._waiting.get(vote.vote_id)
            if future is not None and not future.done():
                future.set_result(vote)

    async def credits_reserved(self, event: Message, envelope: Envelope) -> None:
        assert isinstance(event, CreditsReserved)
        now = self._clock.now()
        margin = timedelta(seconds=self._settings.voting_reservation_margin_seconds)
        await self._settle(
            event.voting_id,
            event.user_id,
            envelope,
            lambda v: v.credit_reserved(event.reservation_id, event.expires_at, now, margin),
        )

    async def credits_reservation_failed(self, event: Message, envelope: Envelope) -> None:
        assert isinstance(event, CreditsReservationFailed)
        await self._settle(
            event.voting_id,
            event.user_id,
            envelope,
            lambda v: v.reject(event.reservation_id, event.reason),
        )

    async def credits_released(self, event: Message, envelope: Envelope) -> None:
        assert isinstance(event, CreditsReleased)
        if event.reason == "timeout":
            await self._settle(
                event.voting_id,
                event.user_id,
                envelope,
                lambda v: v.reject(event.reservation_id, "RESERVATION_EXPIRED"),
            )

    # Queries ------------------------------------------------------------------------

    async def list_votings(self, query: Message, _: Envelope) -> Reply:
        assert isinstance(query, ListVotings)
        tiles = await self._read_models.tiles(
            query.user_id, self._clock.now(), status=query.status, include_paid=query.include_paid
        )
        return Reply.ok(tiles)

    async def get_voting(self, query: Message, _: Envelope) -> Reply:
        assert isinstance(query, GetVoting)
        return await self._tile(query.voting_id, query.user_id)

    async def get_results(self, query: Message, _: Envelope) -> Reply:
        assert isinstance(query, GetResults)
        voting = await self._votings.get(query.voting_id)
        if voting is None:
            return _not_found(query.voting_id)
        status = voting.status(self._clock.now())
        if status != "closed" and not query.is_admin:
            return Reply.fail(
                ErrorCode.FORBIDDEN,
                "results are shown once the voting has closed",
                closes_at=(voting.closed_at or voting.closes_at).isoformat(),
            )
        tally = await self._read_models.tally(voting.id)
        return Reply.ok(
            {
                "voting_id": voting.id,
                "status": status,
                "total": sum(tally.values()),
                "options": [
                    {"id": o.id, "label": o.label, "votes": tally.get(o.id, 0)}
                    for o in voting.options
                ],
            }
        )

    async def project(self, _: Message, envelope: Envelope) -> None:
        await self._read_models.apply(envelope)
