"""Who is alerted: registered users without a counted vote, whatever order the voting
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


async def test_only_those_registered_without_a_vote_are_alerted(attendance: Attendance) -> None:
    await attendance.registered("v1", "ada")  # registered, then voted
    await attendance.voted("v1", "ada")
    await attendance.voted("v1", "bob")  # voted, then registered (events out of order)
    await attendance.registered("v1", "bob")
    await attendance.registered("v1", "cy")  # registered only
    await attendance.voted("v1", "dee")  # voted only
    await attendance.registered("v2", "dee")  # another voting

    assert await attendance.without_vote("v1") == ["cy"]
    assert await attendance.without_vote("v2") == ["dee"]


async def test_votes_told_again_and_at_once_change_nothing(attendance: Attendance) -> None:
    await attendance.registered("v1", "ada")
    await asyncio.gather(*(attendance.voted("v1", user) for user in ["ada", "bob"] * 5))
    await attendance.registered("v1", "bob")
    await attendance.registered("v1", "cy")

    assert await attendance.without_vote("v1") == ["cy"]
