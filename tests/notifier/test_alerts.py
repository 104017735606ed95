"""An alert's audience: the users registered to the voting whose vote the voting service
does not count when the alert is decided, asked again while the voting service is not
answering."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from contracts import Envelope, Message, Reply
from contracts.scheduler import VotingClosingSoon
from contracts.voting import (
    CountedVoters,
    VoterRegistered,
    Voters,
)
from eventing.settings import RuntimeSettings
from services.notifier.campaign import Campaign
from services.notifier.service import NotifierService
from services.notifier.settings import NotifierSettings
from tests.gateway.support import peer, publisher
from tests.support import Handled, eventually, voting_scheduled

REGISTERED = ["ada", "bob", "cy", "dee"]


# A message whose handler fails this often is dead-lettered.
DELIVERY_LIMIT = 2


@pytest.fixture
def limited(settings: RuntimeSettings) -> RuntimeSettings:
    """The test's settings, for every runtime in it (each declares every queue); a request
    left unanswered is given up after a second."""
    return settings.model_copy(
        update={"request_timeout_seconds": 1.0, "delivery_limit": DELIVERY_LIMIT}
    )


@pytest.fixture
async def notifier(limited: RuntimeSettings) -> AsyncIterator[NotifierService]:
    service = NotifierService(NotifierSettings(**limited.model_dump()))
    await service.start()
    yield service
    await service.stop()


async def test_an_alert_asks_who_voted_until_the_voting_service_answers(
    notifier: NotifierService, limited: RuntimeSettings
) -> None:
    handled = Handled(notifier)
    now = datetime.now(UTC)
    closes_at = now + timedelta(minutes=10)
    unanswered = DELIVERY_LIMIT + 1

    async def counted(query: Message) -> Reply:
        nonlocal unanswered
        assert isinstance(query, CountedVoters)
        if unanswered:
            # As voting processes that die with the question: never answered. More
            # often than the alert's event may fail before it is dead-lettered.
            unanswered -= 1
            await asyncio.Event().wait()
        voted = [user for user in query.user_ids if user in ("bob", "dee")]
        return Reply.ok(Voters(user_ids=voted).model_dump())

    async with (
        publisher("voting", limited) as voting,
        peer("voting", limited, {CountedVoters: counted}) as voting_service,
    ):
        await voting.publish_event(Envelope.wrap(voting_scheduled("v1", now, closes_at)))
        await voting.publish_events(
            [registered("v1", user) for user in REGISTERED] + [registered("v2", "eve")]
        )

        async def all_registered() -> bool:
            return len(await notifier.attendance.registered_users("v1")) == len(REGISTERED)

        await eventually(all_registered)
        alert = VotingClosingSoon(voting_id="v1", closes_at=closes_at, due_at=now)
        await voting.publish_event(Envelope.wrap(alert))
        campaign = await eventually(lambda: notifier.campaigns.get("alert:v1"), timeout=30)
        asked_before_again = len(voting_service.received)

        # The alert again (a redelivery, a second scheduler): decided already, so voting
        # is not asked again.
        again = Envelope.wrap(alert)
        await voting.publish_event(again)
        await handled.all(again)

    assert isinstance(campaign, Campaign) and campaign.audience == 2
    assert (await notifier.campaigns.chunk("alert:v1", 0)).users == ["ada", "cy"]
    asked = [envelope.message() for envelope in voting_service.received]
    assert len(asked) == asked_before_again == DELIVERY_LIMIT + 2
    assert all(isinstance(q, CountedVoters) and q.voting_id == "v1" for q in asked)
    assert sorted(asked[-1].user_ids) == REGISTERED  # type: ignore[attr-defined]


def registered(voting_id: str, user_id: str) -> Envelope:
    return Envelope.wrap(VoterRegistered(voting_id=voting_id, user_id=user_id))
