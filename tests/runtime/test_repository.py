"""Repository.change on a real store: an aggregate remembered from this process's last save
never decides on a state another process has moved past."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from pymongo import AsyncMongoClient

from contracts import Envelope
from eventing.repository import Repository
from eventing.settings import RuntimeSettings
from eventing.store import COMMITS, EventStore
from services.wallet.domain import Account
from tests.support import SentCommands


@pytest.fixture
async def store(settings: RuntimeSettings) -> AsyncIterator[EventStore]:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        settings.mongodb_url, tz_aware=True
    )
    store = EventStore(client[settings.database_name("repository")])
    await store.ensure_indexes()
    yield store
    await client.close()


def grant(amount: int) -> Callable[[Account], None]:
    return lambda account: account.grant(amount, "a test grant", "admin")


def balance(account: Account) -> int:
    return account.available


def needing(credits: int) -> Callable[[Account], None]:
    """A decision refused below ``credits``; above, it appends (any event will do)."""

    def decide(account: Account) -> None:
        if account.available < credits:
            raise LookupError(f"only {account.available} credits")
        account.grant(1, "a test grant", "admin")

    return decide


async def opened_in_both(store: EventStore) -> tuple[Repository[Account], Repository[Account]]:
    """Two processes' repositories; the first remembers the account at its last save."""
    here, elsewhere = Repository(store, Account), Repository(store, Account)
    await here.change("u1", Account.open)
    await here.change("u1", grant(1))
    await elsewhere.change("u1", grant(2))  # the first one's memory is now out of date
    return here, elsewhere


async def test_a_decision_that_appends_is_taken_again_on_the_newest_state(
    store: EventStore,
) -> None:
    here, _ = await opened_in_both(store)
    changed = await here.change("u1", grant(4))
    assert changed is not None
    account, _, saved = changed
    assert saved and account.available == 7
    stored = await Repository(store, Account).get("u1")
    assert stored is not None and stored.available == 7


async def test_a_decision_that_appends_nothing_is_taken_on_the_newest_state(
    store: EventStore,
) -> None:
    here, _ = await opened_in_both(store)
    changed = await here.change("u1", balance)
    assert changed is not None and changed[1] == 3


async def test_a_refusal_is_taken_again_on_the_newest_state(store: EventStore) -> None:
    here, _ = await opened_in_both(store)
    # Remembered with 1 credit, the account would refuse; it has 3.
    changed = await here.change("u1", needing(3))
    assert changed is not None and changed[2] is True
    # A refusal that holds on the newest state stands.
    with pytest.raises(LookupError, match="only 4 credits"):
        await here.change("u1", needing(5))


async def test_a_race_lost_on_a_short_stream_rereads_it_without_looking_for_a_snapshot(
    recorded: tuple[EventStore, SentCommands],
) -> None:
    store, commands = recorded
    here, _ = await opened_in_both(store)
    commands.sent.clear()
    changed = await here.change("u1", grant(4))
    assert changed is not None and changed[0].available == 7
    # Three events a moment ago, far from a snapshot (Account.snapshot_after).
    assert commands.in_collection("find") == [COMMITS], commands.sent


async def test_a_race_lost_on_a_long_stream_reads_only_the_commits_it_missed(
    recorded: tuple[EventStore, SentCommands],
) -> None:
    store, commands = recorded
    here, elsewhere = Repository(store, Account), Repository(store, Account)
    await here.change("u3", Account.open)
    for _ in range(Account.snapshot_after + 5):
        await here.change("u3", grant(1))
    # Another process reads it (leaving a snapshot) and appends twice.
    await elsewhere.change("u3", grant(10))
    await elsewhere.change("u3", grant(10))
    commands.sent.clear()

    changed = await here.change("u3", grant(1))

    assert changed is not None and changed[0].available == Account.snapshot_after + 26
    # The two commits it missed and the end of the stream: no snapshot looked up, no
    # commit read twice.
    assert commands.in_collection("find") == [COMMITS] * 3, commands.sent


async def test_changes_of_one_aggregate_at_once_in_one_process_take_turns(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = Repository(store, Account)
    await here.change("u2", Account.open)
    reads = 0
    read = store.read

    async def counted(stream: str, after: int = 0) -> list[Envelope]:
        nonlocal reads
        reads += 1
        return await read(stream, after)

    monkeypatch.setattr(store, "read", counted)
    await asyncio.gather(*(here.change("u2", grant(1)) for _ in range(20)))

    stored = await Repository(store, Account).get("u2")
    assert stored is not None and stored.available == 20
    # Each started from the one before: no change lost a race and read the stream again.
    assert reads == 1  # the check above
