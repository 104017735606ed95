"""A real voting service on the test's namespace, with a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts import Envelope, Message, Reply
from contracts.voting import ScheduleVoting
from eventing.clock import FixedClock
from eventing.service import ServiceRuntime
from eventing.settings import RuntimeSettings
from services.voting.service import VotingService
from services.voting.settings import VotingSettings
from tests.support import Handled

START = datetime(2030, 5, 1, 18, 0, tzinfo=UTC)


@dataclass
class Voting:
    runtime: VotingService
    clock: FixedClock
    client: ServiceRuntime
    # What the voting service has handled.
    handled: Handled

    async def ask(self, message: Message) -> Reply:
        return await self.client.bus.request("voting", Envelope.wrap(message))

    async def schedule(self, **overrides: Any) -> dict[str, Any]:
        reply = await self.ask(schedule_command(**overrides))
        assert reply.error is None, reply.error
        assert isinstance(reply.result, dict)
        return reply.result

    async def publish(self, message: Message) -> Envelope:
        """Publish an event as its owning service would (the wallet, the scheduler)."""
        envelope = Envelope.wrap(message)
        await self.client.bus.publish_event(envelope)
        return envelope


def schedule_command(**overrides: Any) -> ScheduleVoting:
    """Opens ten minutes after START, for an hour; free; three options."""
    fields: dict[str, Any] = {
        "title": "Song of the night",
        "description": "Pick the best song",
        "options": ["Red", "Blue", "Green"],
        "kind": "free",
        "opens_at": START + timedelta(minutes=10),
        "closes_at": START + timedelta(minutes=70),
        "scheduled_by": "admin",
    }
    return ScheduleVoting(**(fields | overrides))


@pytest.fixture
async def voting(settings: RuntimeSettings, gateway: ServiceRuntime) -> AsyncIterator[Voting]:
    clock = FixedClock(START)
    runtime = VotingService(
        VotingSettings(
            **settings.model_dump(), voting_max_concurrent=3, voting_confirm_wait_seconds=1.0
        ),
        clock,
    )
    handled = Handled(runtime)
    await runtime.start()
    yield Voting(runtime, clock, gateway, handled)
    await runtime.stop()
