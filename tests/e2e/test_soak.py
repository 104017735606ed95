"""The chaos soak, short: a minute of mixed load on two processes of each service while
they are SIGKILLed, the broker restarts and the store freezes; then every book balances.
``make soak MINUTES=30`` is the long run (scripts/soak)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.fake_fcm import FakeFcm
from scripts.soak.run import SOAK_SETTINGS, Credentials, Options, report, soak
from tests.conftest import Servers
from tests.e2e.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    WEBHOOK_SECRET,
    RunningSystem,
    start_system,
    stop_system,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def pair(servers: Servers, fake_fcm: FakeFcm, tmp_path: Path) -> Iterator[RunningSystem]:
    if servers.restart_broker is None:
        pytest.skip("the broker and store are not ones this test run started: no chaos")
    running = start_system(
        servers, tmp_path, replicas=2, LIVEVOTE_FCM_URL=fake_fcm.url, **SOAK_SETTINGS
    )
    yield running
    stop_system(running, servers)


async def test_a_minute_of_chaos_leaves_every_book_balanced(pair: RunningSystem) -> None:
    options = Options(minutes=1, replicas=2, chaos_every=6, seed=int(time.time()), log=pair.log)
    credentials = Credentials(ADMIN_EMAIL, ADMIN_PASSWORD, WEBHOOK_SECRET)

    outcome = await soak(pair.system, options, credentials)

    print(report(outcome, options))
    assert outcome.accounts.problems == [], report(outcome, options)
    assert set(outcome.chaos.actions) == {"kill", "broker", "freeze"}
    facts = outcome.accounts.facts
    assert facts["votes confirmed"] > 0
    assert facts["paid votes confirmed"] > 0
    assert facts["credits bought"] > 0
    assert facts["inbox updates"] > 0
