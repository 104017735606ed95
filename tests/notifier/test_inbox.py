"""The inbox read model against the store: one user's entries, newest first, read marks,
and the entries of the layout before, moved into the users' ranges."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from eventing.settings import RuntimeSettings
from services.notifier.campaign import Campaign, Content, notification_id
from services.notifier.inbox import ENTRIES, LEGACY, BadCursor, InboxStore

T0 = datetime(2030, 5, 17, 18, 0, tzinfo=UTC)
# Sorts right after "ada" and "ada/": its entries must never show in ada's inbox.
NEIGHBOURS = ("ad", "ada0", "ada-b", "adb")


def campaign(number: int, at: datetime) -> Campaign:
    content = Content("update", f"Update {number}", "Tonight at eight", voting_id=None)
    return Campaign(f"update:u{number}", content, audience=1, chunks=1, created_at=at)


@pytest.fixture
async def database(settings: RuntimeSettings) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
    yield client[settings.database_name("notifier")]
    await client.close()


async def test_a_users_pages_are_theirs_newest_first_and_count_the_unread(
    database: AsyncDatabase[dict[str, Any]],
) -> None:
    inbox = InboxStore(database)
    # Created out of order, two in the same millisecond; a campaign added twice adds once.
    times = [T0 + timedelta(minutes=5), T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=1)]
    for number, at in enumerate(times):
        assert await inbox.add(campaign(number, at), ["ada", *NEIGHBOURS]) == 5
    assert await inbox.add(campaign(0, times[0]), ["ada"]) == 0

    first = await inbox.page("ada", None, 3)
    rest = await inbox.page("ada", first.next_cursor, 3)
    titles = [item.title for item in first.items + rest.items]
    assert titles[0] == "Update 0" and titles[-1] == "Update 1"
    assert sorted(titles[1:3]) == ["Update 2", "Update 3"] and len(titles) == 4
    assert (first.unread, rest.next_cursor) == (4, None)

    read = await inbox.mark_read("ada", first.items[0].id)
    assert read is not None and read.read and read.id == first.items[0].id
    assert (await inbox.page("ada", None, 10)).unread == 3
    # Nobody marks or reads another user's notification, even knowing its id.
    for other in ("ada0", "bob"):
        assert await inbox.mark_read(other, first.items[1].id) is None
    assert (await inbox.page("ada", None, 10)).unread == 3

    assert await inbox.mark_all_read("ada") == 3
    assert (await inbox.page("ada", None, 10)).unread == 0
    assert (await inbox.page("ad", None, 10)).unread == 4
    assert (await inbox.page("bob", None, 10)).items == []


async def test_a_cursor_it_did_not_hand_out_is_refused(
    database: AsyncDatabase[dict[str, Any]],
) -> None:
    inbox = InboxStore(database)
    for cursor in ("garbage", "", "Li4vYm9i", "%%%"):
        with pytest.raises(BadCursor):
            await inbox.page("ada", cursor, 10)


async def test_entries_written_before_pages_were_ranges_are_moved_once(
    database: AsyncDatabase[dict[str, Any]],
) -> None:
    legacy = database[LEGACY]
    old = [
        {
            "_id": f"legacy-{user}-{number}",
            "user_id": user,
            "campaign": f"update:u{number}",
            "kind": "update",
            "title": f"Update {number}",
            "body": "Tonight at eight",
            "voting_id": None,
            "created_at": T0 + timedelta(minutes=number),
            "read": number == 0,
        }
        for user in ("ada", "bob")
        for number in range(3)
    ]
    await legacy.insert_many(old)
    inbox = InboxStore(database)
    # One of them had been moved already by a notifier that died while moving.
    await database[ENTRIES].insert_one(
        {**old[0], "_id": f"ada/{notification_id('update:u0', T0, 'ada')}"}
    )

    await inbox.prepare()
    await inbox.prepare()

    assert LEGACY not in await database.list_collection_names()
    page = await inbox.page("ada", None, 10)
    assert [item.title for item in page.items] == ["Update 2", "Update 1", "Update 0"]
    assert page.unread == 2
    # Delivered again after the move, a campaign still finds its entry.
    assert await inbox.add(campaign(1, T0 + timedelta(minutes=1)), ["ada", "bob"]) == 0
    assert await database[ENTRIES].count_documents({}) == 6
