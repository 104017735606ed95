"""Whose vote is counted, asked of the voting service when an alert is decided.

The voting service may be restarting at that moment: the question is asked again, waiting
a little longer each time, until the voting closes (an alert after that is of no use).
An error answer is not retried here; the alert's event is delivered again.
"""

from __future__ import annotations

from datetime import datetime

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay
from tenacity.wait import wait_exponential_jitter

from contracts import Envelope
from contracts.voting import MAX_VOTERS_ASKED, CountedVoters, Voters
from eventing.bus import Bus, ServiceUnavailable
from eventing.clock import Clock
from eventing.logs import get_logger

log = get_logger(__name__)

# The longest pause between two tries.
LONGEST_WAIT_SECONDS = 5.0


class CountedVotes:
    def __init__(self, bus: Bus, clock: Clock) -> None:
        self._bus = bus
        self._clock = clock

    async def among(self, voting_id: str, user_ids: list[str], until: datetime) -> set[str]:
        """Those of ``user_ids`` whose vote in the voting is counted, asked in parts;
        retried while the voting service does not answer, until ``until``."""
        counted: set[str] = set()
        for start in range(0, len(user_ids), MAX_VOTERS_ASKED):
            part = CountedVoters(
                voting_id=voting_id, user_ids=user_ids[start : start + MAX_VOTERS_ASKED]
            )
            counted.update(await self._ask(part, until))
        return counted

    async def _ask(self, query: CountedVoters, until: datetime) -> list[str]:
        seconds_left = max(0.0, (until - self._clock.now()).total_seconds())
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(ServiceUnavailable),
            wait=wait_exponential_jitter(multiplier=0.2, max=LONGEST_WAIT_SECONDS, jitter=0.2),
            stop=stop_after_delay(seconds_left),
            before_sleep=lambda state: log.warning(
                "the voting service did not say whose votes are counted; asking again",
                voting_id=query.voting_id,
                attempt=state.attempt_number,
            ),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                reply = await self._bus.request("voting", Envelope.wrap(query))
        if reply.error is not None:
            raise RuntimeError(f"voting refused CountedVoters: {reply.error.message}")
        return Voters.model_validate(reply.result).user_ids
