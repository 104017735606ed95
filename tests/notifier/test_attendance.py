"""Who may be alerted: the users registered to a voting, whatever order the voting
service's events arrive in and however often."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from eventing.settings import RuntimeSettings
from services.notifier.attendance import Attendance


@pytest.fixture
async def attendance(settings: RuntimeSettings) -> AsyncIterator[Attendance]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url)
    attendance = Attendance(client[settings.database_name("notifier")])
    await attendance.ensure_indexes()
    yield attendance
    await client.close()


async def test_the_registered_users_of_each_voting_are_listed_once(
    attendance: Attendance,
) -> None:
    await asyncio.gather(*(attendance.registered("v1", user) for user in ["ada", "bob"] * 5))
    await attendance.registered("v2", "cy")

    assert sorted(await attendance.registered_users("v1")) == ["ada", "bob"]
    assert await attendance.registered_users("v2") == ["cy"]
    assert await attendance.registered_users("v3") == []
