"""Snapshots on a real store: a long stream loads from its snapshot and the commits after
it, and a snapshot that is missing, stale, of other code or unreadable changes nothing but
how much is read."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from bson import Binary
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from contracts import Envelope
from eventing.repository import Repository
from eventing.settings import RuntimeSettings
from eventing.snapshots import SNAPSHOTS, Snapshots
from eventing.store import EventStore
from services.wallet.domain import Account

GRANTS = 2 * Account.snapshot_after


class CountedStore(EventStore):
    """The store, counting the events each read hands back."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.events_read: list[int] = []

    async def read(self, stream: str, after: int = 0) -> list[Envelope]:
        events = await super().read(stream, after)
        self.events_read.append(len(events))
        return events


@pytest.fixture
async def store(settings: RuntimeSettings) -> AsyncIterator[CountedStore]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
    yield CountedStore(client[settings.database_name("snapshots")])
    await client.close()


def snapshots(store: EventStore) -> AsyncCollection[dict[str, Any]]:
    return store.database[SNAPSHOTS]


async def long_account(store: CountedStore) -> None:
    writer = Repository(store, Account, remember=0)
    await writer.change("u1", Account.open)
    for _ in range(GRANTS):
        await writer.change("u1", lambda account: account.grant(1, "a test grant", "admin"))
    # The writer's own loads left snapshots; the tests start from none.
    await snapshots(store).delete_many({})
    store.events_read.clear()


async def loaded(store: EventStore) -> Account:
    account = await Repository(store, Account, remember=0).get("u1")
    assert account is not None
    return account


async def test_a_long_stream_loads_from_its_snapshot_and_the_commits_after(
    store: CountedStore,
) -> None:
    await long_account(store)
    first = await loaded(store)
    again = await loaded(store)
    assert store.events_read == [GRANTS + 1, 0]
    assert (
        (again.available, again.version) == (first.available, first.version) == (GRANTS, GRANTS + 1)
    )

    await Repository(store, Account).change("u1", lambda a: a.grant(5, "more", "admin"))
    store.events_read.clear()
    later = await loaded(store)
    assert store.events_read == [1] and (later.available, later.version) == (GRANTS + 5, GRANTS + 2)


async def other_code(store: EventStore) -> None:
    await snapshots(store).update_one({"_id": "account-u1"}, {"$set": {"code": "v0.9"}})


async def unreadable(store: EventStore) -> None:
    garbage = {"$set": {"state": Binary(b"not a pickle")}}
    await snapshots(store).update_one({"_id": "account-u1"}, garbage)


async def stale(store: EventStore) -> None:
    """A slower process wrote its older snapshot over the newer one."""
    opened = Account("u1")
    opened.replay((await store.read("account-u1"))[:1])
    await Snapshots(store.database).save(opened)


@pytest.mark.parametrize(
    ("damage", "events_read"),
    [(other_code, GRANTS + 1), (unreadable, GRANTS + 1), (stale, GRANTS)],
    ids=["other code", "unreadable", "stale"],
)
async def test_a_snapshot_that_cannot_be_used_changes_only_how_much_is_read(
    store: CountedStore, damage: Callable[[EventStore], Awaitable[None]], events_read: int
) -> None:
    await long_account(store)
    await loaded(store)
    await damage(store)
    store.events_read.clear()

    account = await loaded(store)
    assert (account.available, account.version) == (GRANTS, GRANTS + 1)
    # And it is replaced by one that can be used.
    await loaded(store)
    assert store.events_read == [events_read, 0]


class ShortLivedAccount(Account):
    """As an aggregate whose streams stay short declares itself."""

    snapshot_after = 0


async def test_an_aggregate_with_short_streams_neither_reads_nor_writes_snapshots(
    store: CountedStore,
) -> None:
    await long_account(store)
    accounts = Repository(store, ShortLivedAccount, remember=0)
    await accounts.get("u1")
    await accounts.get("u1")
    assert store.events_read == [GRANTS + 1, GRANTS + 1]
    assert await snapshots(store).count_documents({}) == 0


async def test_a_stream_changed_by_one_process_only_keeps_its_snapshot_current(
    store: CountedStore,
) -> None:
    # It remembers what it saved, so it never loads the account again after its first
    # change: the snapshots come from its saves.
    writer = Repository(store, Account)
    await writer.change("u1", Account.open)
    for _ in range(GRANTS + 5):
        await writer.change("u1", lambda account: account.grant(1, "a test grant", "admin"))
    assert store.events_read == [0]

    account = await loaded(store)
    assert (account.available, account.version) == (GRANTS + 5, GRANTS + 6)
    # The snapshot of the last multiple of the threshold passed, and the commits since.
    assert store.events_read == [0, (GRANTS + 6) % Account.snapshot_after]
