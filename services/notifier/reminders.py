"""Reminders and alerts: the scheduler's lead-time events start them, the voting
service's events say what each voting is and who takes part.

- ``VotingStartingSoon``: a reminder to every user with reminders on (and not hiding
  paid votings, for a paid one).
- ``VotingClosingSoon``: an alert to every user registered to the voting whose vote has
  not been counted when the alert is decided (the voting service is asked then);
  urgent, and never shown after the close.

Either arriving once its moment has passed (a notifier that was down) is skipped and
logged, never sent late. Each is a campaign (``reminder:<voting>``, ``alert:<voting>``),
so redeliveries and replicas send it once per user.
"""

from __future__ import annotations

from datetime import datetime

from contracts import Envelope
from contracts.scheduler import VotingClosingSoon, VotingStartingSoon
from contracts.voting import VoterRegistered, VotingScheduled
from eventing.clock import Clock
from eventing.handlers import HandlerMap
from eventing.logs import get_logger
from services.notifier.attendance import Attendance
from services.notifier.campaign import Content
from services.notifier.campaigns import Campaigns
from services.notifier.fanout import Fanout
from services.notifier.store import Recipients
from services.notifier.voters import CountedVotes

log = get_logger(__name__)


class VotingNotYetKnown(Exception):
    """A lead-time event came before the voting's scheduling reached the notifier; the
    event is delivered again."""


def _minutes(until: datetime, since: datetime) -> int:
    return max(1, round((until - since).total_seconds() / 60))


class Reminders:
    def __init__(
        self,
        recipients: Recipients,
        attendance: Attendance,
        counted_votes: CountedVotes,
        campaigns: Campaigns,
        fanout: Fanout,
        clock: Clock,
    ) -> None:
        self._recipients = recipients
        self._attendance = attendance
        self._counted_votes = counted_votes
        self._campaigns = campaigns
        self._fanout = fanout
        self._clock = clock

    def events(self) -> HandlerMap[None]:
        return (
            HandlerMap[None]()
            .on(VotingScheduled, self.voting_scheduled)
            .on(VoterRegistered, self.voter_registered)
            .on(VotingStartingSoon, self.starting_soon)
            .on(VotingClosingSoon, self.closing_soon)
        )

    async def voting_scheduled(self, event: VotingScheduled, _: Envelope) -> None:
        await self._attendance.voting_scheduled(event.voting_id, event.title, event.kind)

    async def voter_registered(self, event: VoterRegistered, _: Envelope) -> None:
        await self._attendance.registered(event.voting_id, event.user_id)

    async def starting_soon(self, event: VotingStartingSoon, envelope: Envelope) -> None:
        campaign_id = f"reminder:{event.voting_id}"
        now = self._clock.now()
        if now >= event.opens_at and await self._campaigns.get(campaign_id) is None:
            log.warning("reminder skipped: the voting has opened", voting_id=event.voting_id)
            return
        title, kind = await self._voting(event.voting_id)
        minutes = _minutes(event.opens_at, max(now, event.due_at))
        content = Content(
            "reminder",
            title=f"{title} opens soon",
            body=f"Voting opens in {minutes} minute{'s' if minutes != 1 else ''}.",
            voting_id=event.voting_id,
            expires_at=event.opens_at,
        )

        async def audience() -> list[str]:
            return [u async for u in self._recipients.reminder_recipients(paid=kind == "paid")]

        campaign = await self._campaigns.decide(campaign_id, content, audience, now)
        await self._fanout.deliver(campaign, envelope)

    async def closing_soon(self, event: VotingClosingSoon, envelope: Envelope) -> None:
        campaign_id = f"alert:{event.voting_id}"
        now = self._clock.now()
        if now >= event.closes_at and await self._campaigns.get(campaign_id) is None:
            log.warning("alert skipped: the voting has closed", voting_id=event.voting_id)
            return
        title, _ = await self._voting(event.voting_id)
        minutes = _minutes(event.closes_at, max(now, event.due_at))
        content = Content(
            "alert",
            title=f"Last minutes to vote: {title}",
            body=f"Voting closes in {minutes} minute{'s' if minutes != 1 else ''} "
            "and you have not voted yet.",
            voting_id=event.voting_id,
            expires_at=event.closes_at,
            urgent=True,
        )

        async def audience() -> list[str]:
            registered = await self._attendance.registered_users(event.voting_id)
            voted = await self._counted_votes.among(event.voting_id, registered, event.closes_at)
            return [user for user in registered if user not in voted]

        campaign = await self._campaigns.decide(campaign_id, content, audience, now)
        await self._fanout.deliver(campaign, envelope)

    async def _voting(self, voting_id: str) -> tuple[str, str]:
        voting = await self._attendance.voting(voting_id)
        if voting is None:
            raise VotingNotYetKnown(voting_id)
        return voting
