"""Taking part: registering, casting a vote, and voting's side of the paid-vote saga.

A paid vote's request waits for the saga's outcome (within the confirm wait) so that the
voter gets a 201 instead of a 202. Any replica of the service may consume the wallet's
answer and settle the vote, so the outcome reaches the waiting process in one of two
ways: settled here, it is handed over at once; settled by a process where no request
waits for it, that process broadcasts it (``UNANSWERED_OUTCOME``), to the voting
processes, one of which may hold the request, and to the gateways, which push it to the
voter's sockets (the request gave up and answered 202). An outcome answered by its own
request is broadcast to nobody.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial

from contracts import Envelope, ErrorCode, Message, Reply
from contracts.voting import (
    UNANSWERED_OUTCOME,
    CastVote,
    GetMyVote,
    RegisterVoter,
    VoteCast,
    VoteRejected,
)
from contracts.wallet import CreditsReleased, CreditsReservationFailed, CreditsReserved
from eventing.clock import Clock
from eventing.handlers import HandlerMap
from eventing.logs import get_logger
from eventing.store import ConcurrencyConflict
from services.voting.changes import Changes
from services.voting.domain import Rejected, Vote, Voting
from services.voting.replies import not_found, outcome, rejection, tile
from services.voting.settings import VotingSettings

log = get_logger(__name__)

# Publishes a message to the broadcast queues bound to a routing key (Bus.broadcast).
Broadcast = Callable[[Envelope, str], Awaitable[None]]
# The saga queue this process prefers (Bus.preferred_saga_shard): a paid vote's request
# names it, so that the wallet's answer comes back here, where the request waits.
AnswerShard = Callable[[], int | None]


class Outcomes:
    """Paid votes whose request waits in this process for the saga's outcome."""

    def __init__(self, wait_seconds: float) -> None:
        self._wait_seconds = wait_seconds
        self._waiting: dict[str, tuple[Vote, asyncio.Future[Vote]]] = {}

    def expect(self, vote: Vote) -> None:
        """Be ready for the pending ``vote``'s outcome (before its request can reach the
        wallet, so that no outcome arrives unexpected)."""
        if vote.vote_id not in self._waiting:
            self._waiting[vote.vote_id] = (vote, asyncio.get_running_loop().create_future())

    def awaits(self, vote_id: str) -> bool:
        """Whether a request in this process waits for the outcome of ``vote_id``."""
        return vote_id in self._waiting

    def discard(self, vote_id: str) -> None:
        self._waiting.pop(vote_id, None)

    def settled(self, vote: Vote) -> None:
        """This process settled ``vote``."""
        self._resolve(vote.vote_id, lambda _: vote)

    def heard(self, outcome: VoteCast | VoteRejected) -> None:
        """Some replica settled a vote with ``outcome``."""

        def ended(pending: Vote) -> Vote:
            vote = copy.copy(pending)
            vote.apply(outcome)
            return vote

        self._resolve(outcome.vote_id, ended)

    def _resolve(self, vote_id: str, ended: Callable[[Vote], Vote]) -> None:
        entry = self._waiting.get(vote_id)
        if entry is not None and not entry[1].done():
            entry[1].set_result(ended(entry[0]))

    async def wait(self, vote: Vote, read: Callable[[], Awaitable[Vote | None]]) -> Vote:
        """The pending ``vote`` as the saga ended it, else (after the confirm wait) as
        ``read`` finds it in the store."""
        self.expect(vote)
        _, future = self._waiting[vote.vote_id]
        try:
            async with asyncio.timeout(self._wait_seconds):
                return await asyncio.shield(future)
        except TimeoutError:
            return await read() or vote
        finally:
            self._waiting.pop(vote.vote_id, None)


class Ballots:
    def __init__(
        self,
        changes: Changes,
        clock: Clock,
        settings: VotingSettings,
        broadcast: Broadcast,
        answer_shard: AnswerShard,
    ) -> None:
        self._changes = changes
        self._broadcast = broadcast
        self._answer_shard = answer_shard
        self._votes = changes.votes
        self._clock = clock
        self._settings = settings
        self.outcomes = Outcomes(settings.voting_confirm_wait_seconds)

    def commands(self) -> HandlerMap[Reply]:
        return (
            HandlerMap[Reply]()
            .on(RegisterVoter, self.register_voter)
            .on(CastVote, self.cast_vote)
            .on(GetMyVote, self.get_my_vote)
        )

    def events(self) -> HandlerMap[None]:
        return (
            HandlerMap[None]()
            .on(CreditsReserved, self.credits_reserved)
            .on(CreditsReservationFailed, self.credits_reservation_failed)
            .on(CreditsReleased, self.credits_released)
        )

    def broadcasts(self) -> HandlerMap[None]:
        """Outcomes settled by another process, for the requests waiting in this one."""
        return (
            HandlerMap[None]().on(VoteCast, self.vote_settled).on(VoteRejected, self.vote_settled)
        )

    # Registering and voting ---------------------------------------------------------

    async def register_voter(self, command: RegisterVoter, envelope: Envelope) -> Reply:
        voting = await self._changes.votings.get(command.voting_id)
        if voting is None:
            return not_found(command.voting_id)
        now = self._clock.now()
        try:
            await self._changes.change(
                self._changes.registrations,
                Vote.key(voting.id, command.user_id),
                envelope,
                lambda r: r.register(voting, command.user_id, now),
                create=True,
            )
        except Rejected as rejected:
            return rejection(rejected)
        return await tile(self._changes.read_models, voting.id, command.user_id, now)

    async def cast_vote(self, command: CastVote, envelope: Envelope) -> Reply:
        voting = await self._changes.recent.get(command.voting_id)
        if voting is None:
            return not_found(command.voting_id)
        now = self._clock.now()
        vote = await self._first_vote(voting, command, envelope, now)
        if vote is None:
            key = Vote.key(voting.id, command.user_id)
            existing = await self._votes.get(key)
            if existing is not None and envelope.message_id in existing.causes:
                # A redelivered (or retried) command whose vote was stored: answer as before.
                return outcome(existing)
            try:
                vote = await self._changes.change(
                    self._votes,
                    key,
                    envelope,
                    lambda v: v.cast(
                        voting, command.user_id, command.option_id, now, self._answer_shard()
                    ),
                    create=True,
                    loaded=existing or Vote(key),
                )
            except Rejected as rejected:
                return rejection(rejected)
            assert vote is not None  # created if missing
        if vote.state == "pending":
            vote = await self.outcomes.wait(vote, partial(self._votes.get, vote.id))
        return outcome(vote)

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
            vote.cast(voting, command.user_id, command.option_id, now, self._answer_shard())
        except Rejected:
            return None
        if vote.state == "pending":
            self.outcomes.expect(vote)
        try:
            await self._changes.save(self._votes, vote, envelope)
        except ConcurrencyConflict:
            self.outcomes.discard(vote.vote_id)
            return None
        except BaseException:
            self.outcomes.discard(vote.vote_id)
            raise
        return vote

    async def get_my_vote(self, query: GetMyVote, _: Envelope) -> Reply:
        vote = await self._votes.get(Vote.key(query.voting_id, query.user_id))
        if vote is None or vote.state == "none":
            return Reply.fail(ErrorCode.NOT_FOUND, "you have not voted in this voting")
        return Reply.ok(vote.view())

    # The paid-vote saga, voting's side ------------------------------------------------

    async def _settle(
        self, voting_id: str, user_id: str, cause: Envelope, change: Callable[[Vote], None]
    ) -> None:
        ended: list[Message] = []

        def settle(vote: Vote) -> None:
            change(vote)
            ended[:] = [e for e in vote.pending if isinstance(e, VoteCast | VoteRejected)]

        vote = await self._changes.change(self._votes, Vote.key(voting_id, user_id), cause, settle)
        if vote is None or vote.state not in ("confirmed", "rejected"):
            return
        if self.outcomes.awaits(vote.vote_id):
            self.outcomes.settled(vote)
            return
        for outcome_event in ended:
            try:
                await self._broadcast(cause.caused(outcome_event), UNANSWERED_OUTCOME)
            except Exception as error:  # noqa: BLE001 - the vote is settled; the web app asks
                log.warning("a vote outcome could not be broadcast", error=repr(error))

    async def credits_reserved(self, event: CreditsReserved, envelope: Envelope) -> None:
        now = self._clock.now()
        margin = timedelta(seconds=self._settings.voting_reservation_margin_seconds)
        await self._settle(
            event.voting_id,
            event.user_id,
            envelope,
            lambda v: v.credit_reserved(event.reservation_id, event.expires_at, now, margin),
        )

    async def credits_reservation_failed(
        self, event: CreditsReservationFailed, envelope: Envelope
    ) -> None:
        await self._settle(
            event.voting_id,
            event.user_id,
            envelope,
            lambda v: v.reject(event.reservation_id, event.reason),
        )

    async def credits_released(self, event: CreditsReleased, envelope: Envelope) -> None:
        if event.reason == "timeout":
            await self._settle(
                event.voting_id,
                event.user_id,
                envelope,
                lambda v: v.reject(event.reservation_id, "RESERVATION_EXPIRED"),
            )

    async def vote_settled(self, event: VoteCast | VoteRejected, _: Envelope) -> None:
        # Shown by the process that settled it before it broadcast it.
        self.outcomes.heard(event)
