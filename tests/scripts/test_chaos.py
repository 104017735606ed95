"""The soak's chaos deals every kind of action it may, however soon it is told to stop."""

import asyncio
import random

import pytest

from scripts.soak import chaos
from scripts.soak.chaos import Chaos

KINDS = ["kill", "broker", "freeze"]


class Recorded(Chaos):
    """Chaos whose actions only record that they were dealt."""

    def _kill(self) -> str:
        return "a process"

    def _broker(self) -> str:
        return "the broker"

    def _freeze(self) -> str:
        return "the store"


@pytest.fixture(autouse=True)
def every_kind_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chaos, "_broker_is_local", lambda: True)
    monkeypatch.setattr(chaos, "_store_pid", lambda: 1)


@pytest.mark.parametrize("seed", range(20))
def test_a_round_deals_each_kind_before_its_second_crash(seed: int) -> None:
    deck = Recorded(None, random.Random(seed), 1.0).deck()  # type: ignore[arg-type]

    dealt = list(reversed(deck))
    assert sorted(dealt[:3]) == sorted(KINDS)
    assert dealt[3:] == ["kill"]


async def test_chaos_stopped_before_its_first_action_still_deals_every_kind() -> None:
    recorded = Recorded(None, random.Random(0), interval=60.0)  # type: ignore[arg-type]
    running = asyncio.create_task(recorded.run())

    recorded.stop()
    await running

    assert dict(recorded.log.actions) == {kind: 1 for kind in KINDS}


async def test_chaos_without_a_local_stack_only_kills(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chaos, "_broker_is_local", lambda: False)
    monkeypatch.setattr(chaos, "_store_pid", lambda: None)
    recorded = Recorded(None, random.Random(0), interval=60.0)  # type: ignore[arg-type]
    running = asyncio.create_task(recorded.run())

    recorded.stop()
    await running

    assert dict(recorded.log.actions) == {"kill": 1}
