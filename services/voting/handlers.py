"""The voting service's message handlers: commands, queries and the events it reacts to."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from contracts import Envelope, ErrorCode, Message, Reply
from contracts.scheduler import VotingCloseTimeReached, VotingOpenTimeReached
from contracts.voting import (
    CastVote,
    GetVoting,
    ListVotings,
    ScheduleVoting,
    VoteCast,
    VotingClosed,
    VotingOpened,
    VotingScheduled,
)
from eventing.bus import CommandHandler, EventHandler
from eventing.clock import Clock
from eventing.logs import get_logger
from eventing.repository import Repository
from eventing.store import ConcurrencyConflict, EventStore
from services.voting.domain import Rejected, Vote, Voting
from services.voting.store import VotingReadModels

log = get_logger(__name__)


def _rejection(rejected: Rejected) -> Reply:
    return Reply.fail(rejected.code, rejected.message, **rejected.details)


def _not_found(voting_id: str) -> Reply:
    return Reply.fail(ErrorCode.NOT_FOUND, "no such voting", voting_id=voting_id)


class VotingHandlers:
    def __init__(self, store: EventStore, read_models: VotingReadModels, clock: Clock) -> None:
        self._store = store
        self._votings = Repository(store, Voting)
        self._votes = Repository(store, Vote)
        self._read_models = read_models
        self._clock = clock

    def commands(self) -> Mapping[type[Message], CommandHandler]:
        return {
            ScheduleVoting: self.schedule_voting,
            CastVote: self.cast_vote,
            ListVotings: self.list_votings,
            GetVoting: self.get_voting,
        }

    def events(self) -> Mapping[type[Message], EventHandler]:
        return {
            VotingOpenTimeReached: self.open_time_reached,
            VotingCloseTimeReached: self.close_time_reached,
            # Our own events come back from the broker: the projection that a crash after
            # the append cannot skip (the inline one is only the fast path).
            VotingScheduled: self.project,
            VotingOpened: self.project,
            VotingClosed: self.project,
            VoteCast: self.project,
        }

    async def schedule_voting(self, command: Message, envelope: Envelope) -> Reply:
        assert isinstance(command, ScheduleVoting)
        # The voting is named after the command, so a redelivered command finds its
        # voting already scheduled instead of scheduling a second one.
        voting_id = envelope.message_id
        try:
            voting = Voting.schedule(voting_id, command, self._clock.now())
            commit = await self._votings.save(voting, cause=envelope)
            events: Sequence[Envelope] = commit.events
        except Rejected as rejected:
            return _rejection(rejected)
        except ConcurrencyConflict:
            events = await self._store.read(Voting.stream_name(voting_id))
        for event in events:
            await self._read_models.apply(event)
        log.info("voting scheduled", voting_id=voting_id)
        tile = await self._read_models.tile(voting_id, command.scheduled_by, self._clock.now())
        return Reply.ok(tile)

    async def cast_vote(self, command: Message, envelope: Envelope) -> Reply:
        assert isinstance(command, CastVote)
        voting = await self._votings.get(command.voting_id)
        if voting is None:
            return _not_found(command.voting_id)
        try:
            vote = Vote.cast(voting, command.user_id, command.option_id, self._clock.now())
            commit = await self._votes.save(vote, cause=envelope)
        except Rejected as rejected:
            return _rejection(rejected)
        except ConcurrencyConflict:
            return Reply.fail(
                ErrorCode.ALREADY_VOTED,
                "you have already voted in this voting",
                voting_id=voting.id,
            )
        for event in commit.events:
            await self._read_models.apply(event)
        cast = commit.events[0].message()
        assert isinstance(cast, VoteCast)
        return Reply.ok(
            {
                "vote_id": cast.vote_id,
                "status": "confirmed",
                "voting_id": cast.voting_id,
                "option_id": cast.option_id,
            }
        )

    async def list_votings(self, query: Message, _: Envelope) -> Reply:
        assert isinstance(query, ListVotings)
        return Reply.ok(await self._read_models.tiles(query.user_id, self._clock.now()))

    async def get_voting(self, query: Message, _: Envelope) -> Reply:
        assert isinstance(query, GetVoting)
        tile = await self._read_models.tile(query.voting_id, query.user_id, self._clock.now())
        return Reply.ok(tile) if tile is not None else _not_found(query.voting_id)

    async def open_time_reached(self, event: Message, envelope: Envelope) -> None:
        assert isinstance(event, VotingOpenTimeReached)
        await self._record(event.voting_id, envelope, lambda v: v.record_opened(event.due_at))

    async def close_time_reached(self, event: Message, envelope: Envelope) -> None:
        assert isinstance(event, VotingCloseTimeReached)
        await self._record(event.voting_id, envelope, lambda v: v.record_closed(event.due_at))

    async def _record(
        self, voting_id: str, cause: Envelope, change: Callable[[Voting], None]
    ) -> None:
        # A concurrent change (an admin closing early, a duplicate timer event) moved the
        # stream: reload and decide again; the change itself is idempotent.
        for _ in range(5):
            voting = await self._votings.get(voting_id)
            if voting is None:
                log.warning("time reached for an unknown voting", voting_id=voting_id)
                return
            change(voting)
            if not voting.pending:
                return
            try:
                commit = await self._votings.save(voting, cause=cause)
            except ConcurrencyConflict:
                continue
            for recorded in commit.events:
                await self._read_models.apply(recorded)
            return
        raise ConcurrencyConflict(Voting.stream_name(voting_id), -1)

    async def project(self, _: Message, envelope: Envelope) -> None:
        await self._read_models.apply(envelope)
