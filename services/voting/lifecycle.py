"""A voting's life: scheduled, rescheduled, opened, closed or cancelled, and its place in
the calendar that keeps at most ``voting_max_concurrent`` votings open at one instant."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from contracts import Envelope, Reply
from contracts.scheduler import VotingCloseTimeReached, VotingOpenTimeReached
from contracts.voting import (
    CancelVoting,
    CloseVoting,
    RescheduleVoting,
    ScheduleVoting,
    VotingCancelled,
    VotingClosed,
    VotingOpened,
    VotingRescheduled,
)
from eventing.clock import Clock
from eventing.handlers import HandlerMap
from eventing.logs import get_logger
from eventing.repository import CHANGE_ATTEMPTS
from eventing.store import ConcurrencyConflict
from services.voting.changes import Changes
from services.voting.domain import Calendar, Rejected, Voting, Window
from services.voting.replies import not_found, rejection, tile
from services.voting.settings import VotingSettings

log = get_logger(__name__)


class Lifecycle:
    def __init__(self, changes: Changes, clock: Clock, settings: VotingSettings) -> None:
        self._changes = changes
        self._votings = changes.votings
        self._clock = clock
        self._settings = settings

    def commands(self) -> HandlerMap[Reply]:
        return (
            HandlerMap[Reply]()
            .on(ScheduleVoting, self.schedule_voting)
            .on(RescheduleVoting, self.reschedule_voting)
            .on(CancelVoting, self.cancel_voting)
            .on(CloseVoting, self.close_voting)
        )

    def events(self) -> HandlerMap[None]:
        return (
            HandlerMap[None]()
            .on(VotingOpenTimeReached, self.open_time_reached)
            .on(VotingCloseTimeReached, self.close_time_reached)
        )

    def broadcasts(self) -> HandlerMap[None]:
        """A voting's rules changed: every process stops relying on its cached copy."""
        return (
            HandlerMap[None]()
            .on(VotingRescheduled, self.forget_voting)
            .on(VotingCancelled, self.forget_voting)
            .on(VotingOpened, self.forget_voting)
            .on(VotingClosed, self.forget_voting)
        )

    async def forget_voting(
        self, event: VotingRescheduled | VotingCancelled | VotingOpened | VotingClosed, _: Envelope
    ) -> None:
        self._changes.recent.forget(event.voting_id)

    # The calendar -------------------------------------------------------------------

    async def _book(self, voting_id: str, window: Window, cause: Envelope) -> None:
        def book(calendar: Calendar) -> None:
            calendar.forget_before(self._clock.now())
            calendar.book(voting_id, window, self._settings.voting_max_concurrent)

        await self._changes.change(self._changes.calendars, Calendar.MAIN, cause, book, create=True)

    async def _release(self, voting: Voting, cause: Envelope) -> None:
        at = voting.cancelled_at or voting.closed_at or self._clock.now()
        await self._changes.change(
            self._changes.calendars,
            Calendar.MAIN,
            cause,
            lambda c: c.release(voting.id, at),
            create=True,
        )

    # Votings ------------------------------------------------------------------------

    async def schedule_voting(self, command: ScheduleVoting, envelope: Envelope) -> Reply:
        # The voting is named after the command, so a redelivered command finds its
        # voting already scheduled instead of scheduling a second one.
        voting_id = envelope.message_id
        try:
            voting = Voting.schedule(voting_id, command, self._clock.now())
            # The calendar first: a voting that exists has its place, and a crash in
            # between leaves a booking that the command's retry completes.
            await self._book(voting_id, Window(voting.opens_at, voting.closes_at), envelope)
            await self._changes.save(self._votings, voting, envelope)
        except Rejected as rejected:
            return rejection(rejected)
        except ConcurrencyConflict:
            for event in await self._changes.store.read(Voting.stream_name(voting_id)):
                await self._changes.read_models.apply(event)
        log.info("voting scheduled", voting_id=voting_id)
        return await self._tile(voting_id, command.scheduled_by)

    async def reschedule_voting(self, command: RescheduleVoting, envelope: Envelope) -> Reply:
        now = self._clock.now()
        try:
            for _ in range(CHANGE_ATTEMPTS):
                voting = await self._votings.get(command.voting_id)
                if voting is None:
                    return not_found(command.voting_id)
                voting.reschedule(command.opens_at, command.closes_at, now)
                await self._book(voting.id, Window(voting.opens_at, voting.closes_at), envelope)
                try:
                    await self._changes.save(self._votings, voting, envelope)
                    break
                except ConcurrencyConflict:
                    continue
            else:
                raise ConcurrencyConflict(Voting.stream_name(command.voting_id), -1)
        except Rejected as rejected:
            return rejection(rejected)
        return await self._tile(command.voting_id, command.requested_by)

    async def cancel_voting(self, command: CancelVoting, envelope: Envelope) -> Reply:
        return await self._end(command.voting_id, command.requested_by, envelope, Voting.cancel)

    async def close_voting(self, command: CloseVoting, envelope: Envelope) -> Reply:
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
            voting = await self._changes.change(
                self._votings, voting_id, envelope, lambda v: end(v, now)
            )
        except Rejected as rejected:
            return rejection(rejected)
        if voting is None:
            return not_found(voting_id)
        await self._release(voting, envelope)
        return await self._tile(voting_id, user_id)

    async def open_time_reached(self, event: VotingOpenTimeReached, envelope: Envelope) -> None:
        await self._changes.change(
            self._votings, event.voting_id, envelope, lambda v: v.record_opened(event.due_at)
        )

    async def close_time_reached(self, event: VotingCloseTimeReached, envelope: Envelope) -> None:
        await self._changes.change(
            self._votings, event.voting_id, envelope, lambda v: v.record_closed(event.due_at)
        )

    async def _tile(self, voting_id: str, user_id: str) -> Reply:
        return await tile(self._changes.read_models, voting_id, user_id, self._clock.now())
