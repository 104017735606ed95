"""The daily archive with every service a process, days shortened to a few seconds:
votings end, credits are granted and spent, an update goes out, and each day's archive
appears with the right rows, written once by two scheduler replicas; a scheduler killed
in the middle of a day's run completes that day with the same files when it comes back,
and writes the days it missed."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from scripts.fake_fcm import FakeFcm
from scripts.launch import ServiceProcess, free_port
from tests.conftest import Servers
from tests.e2e.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    RunningSystem,
    login,
    signup_and_login,
    start_system,
    stop_system,
)
from tests.e2e.notify import prefer
from tests.e2e.paid import open_voting, user_with_credits, vote
from tests.support import eventually

DAY_SECONDS = 5
# Each day is written two seconds after it ends.
ARCHIVE_SETTINGS = {
    "LIVEVOTE_ARCHIVE_DAY_SECONDS": str(DAY_SECONDS),
    "LIVEVOTE_ARCHIVE_TIME": "00:00:02",
    "LIVEVOTE_ARCHIVE_LEASE_SECONDS": "2",
}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# How a shortened day is named: after its first moment.
DAY_NAME = "%Y-%m-%dT%H%M%SZ"


def day_of(moment: datetime) -> str:
    """The name of the (shortened) day ``moment`` falls in."""
    length = timedelta(seconds=DAY_SECONDS)
    return (EPOCH + (moment - EPOCH) // length * length).strftime(DAY_NAME)


def starts(day: str) -> datetime:
    return datetime.strptime(day, DAY_NAME).replace(tzinfo=UTC)


def after(day: str, days: int) -> str:
    return day_of(starts(day) + timedelta(seconds=DAY_SECONDS * days))


def due(day: str) -> datetime:
    """When the day's archive is written: two seconds after it ends."""
    return starts(day) + timedelta(seconds=DAY_SECONDS + 2)


def start_archiving(servers: Servers, log_dir: Path, fcm_url: str) -> RunningSystem:
    return start_system(servers, log_dir, LIVEVOTE_FCM_URL=fcm_url, **ARCHIVE_SETTINGS)


@pytest.fixture(scope="module")
def archiving(
    servers: Servers, fake_fcm: FakeFcm, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSystem]:
    """The system with short days, and a second scheduler process."""
    log_dir = tmp_path_factory.mktemp("archive")
    running = start_archiving(servers, log_dir, fake_fcm.url)
    system = running.system
    second = ServiceProcess(
        "scheduler",
        {**system.env, "LIVEVOTE_HEALTH_PORT": str(free_port())},
        (log_dir / "scheduler-2.log").open("w"),
        "scheduler#2",
    )
    system.processes[second.name] = second
    second.start()
    second.wait_ready()
    yield running
    stop_system(running, servers)


@pytest.fixture
async def store(servers: Servers) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(servers.mongodb_url)
    yield client
    await client.close()


async def archived(http: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    """The archive's days by name."""
    listing = await http.get("/admin/archive", headers=admin)
    assert listing.status_code == 200, listing.text
    return {day["day"]: day for day in listing.json()["days"]}


async def table(
    http: httpx.AsyncClient, admin: dict[str, str], day: str, name: str
) -> list[dict[str, str]]:
    file = await http.get(f"/admin/archive/{day}/{name}", headers=admin)
    assert file.status_code == 200, file.text
    assert file.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(file.text)))


async def listed_through(http: httpx.AsyncClient, admin: dict[str, str], day: str) -> None:
    """Until the archive holds ``day``."""

    async def written() -> bool:
        return day in await archived(http, admin)

    await eventually(written, timeout=60)


async def one_copy_of_each_file(scheduler_db: Any, days: dict[str, Any]) -> bool:
    """Whether the store holds the chunks of the listed files and nothing more."""
    listed = sum(file["chunks"] for day in days.values() for file in day["files"])
    return bool(await scheduler_db["archive_chunks"].count_documents({}) == listed)


async def test_each_day_is_archived_once_with_its_votings_credits_and_notifications(
    archiving: RunningSystem, store: AsyncMongoClient[dict[str, Any]]
) -> None:
    notifier = store[f"{archiving.namespace}_notifier"]
    scheduler_db = store[f"{archiving.namespace}_scheduler"]
    async with httpx.AsyncClient(base_url=archiving.api, timeout=30) as http:
        admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
        payer_id, payer = await user_with_credits(http, admin, 3)
        other = await signup_and_login(http)
        await prefer(http, notifier, other, updates=True)
        free = await open_voting(http, admin, kind="free", lasts=4)
        paid = await open_voting(http, admin, kind="paid", lasts=4)
        for voter, voting, option in ((payer, free, 0), (other, free, 1), (payer, paid, 0)):
            answer = await vote(http, voter, voting, option)
            assert answer.status_code == 201, answer.text
        sent = await http.post(
            "/admin/updates", headers=admin, json={"title": "Tonight", "body": "Results soon"}
        )
        assert sent.status_code == 202, sent.text

        last = max(datetime.fromisoformat(v["closes_at"]) for v in (free, paid))
        await listed_through(http, admin, day_of(max(last, datetime.now(UTC))))
        days = await archived(http, admin)

        # Every day since the first, each once, each with its two daily files.
        names = sorted(days)
        assert names == [after(names[0], n) for n in range(len(names))]
        for day in days.values():
            assert {"ledger.csv", "notifications.csv"} <= {f["name"] for f in day["files"]}

        # Each voting in the day it ended, with its options and votes.
        for voting, counts in ((free, ["1", "1"]), (paid, ["1", "0"])):
            name = f"voting-{voting['id']}.csv"
            holding = [d for d, day in days.items() if name in {f["name"] for f in day["files"]}]
            assert holding == [day_of(datetime.fromisoformat(voting["closes_at"]))]
            rows = await table(http, admin, holding[0], name)
            assert [(r["option"], r["votes"]) for r in rows] == list(
                zip(("Yes", "No"), counts, strict=True)
            )

        # Every credit change in the ledger of the day it was made in.
        ledger = []
        for name in names:
            for row in await table(http, admin, name, "ledger.csv"):
                assert day_of(datetime.fromisoformat(row["at"])) == name, row
                ledger.append(row)
        assert [
            (r["kind"], r["amount"], r["balance_change"], r["voting_id"])
            for r in ledger
            if r["user_id"] == payer_id
        ] == [
            ("grant", "3", "3", ""),
            ("reserve", "1", "0", paid["id"]),
            ("debit", "1", "-1", paid["id"]),
        ]

        # The update, among the day's notifications.
        update = f"update:{sent.json()['id']}"

        async def update_archived() -> dict[str, str] | None:
            for name in sorted(await archived(http, admin)):
                for row in await table(http, admin, name, "notifications.csv"):
                    if row["campaign_id"] == update:
                        assert day_of(datetime.fromisoformat(row["created_at"])) == name
                        return row
            return None

        row = await eventually(update_archived, timeout=60)
        assert (row["kind"], row["title"], row["audience"]) == ("update", "Tonight", "1")

        # Two replicas, one copy of every file.
        await eventually(lambda: all_settled(http, admin, scheduler_db), timeout=30)


async def all_settled(http: httpx.AsyncClient, admin: dict[str, str], scheduler_db: Any) -> bool:
    return await one_copy_of_each_file(scheduler_db, await archived(http, admin))


async def test_the_archive_is_the_operators_alone_and_unknown_days_and_files_are_not_found(
    archiving: RunningSystem,
) -> None:
    async with httpx.AsyncClient(base_url=archiving.api, timeout=30) as http:
        admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
        user = await signup_and_login(http)
        await eventually(lambda: archived(http, admin), timeout=30)
        day = sorted(await archived(http, admin))[0]

        for path in ("/admin/archive", f"/admin/archive/{day}/ledger.csv"):
            refused = await http.get(path, headers=user)
            assert refused.status_code == 403, refused.text
            assert refused.json()["error"]["code"] == "FORBIDDEN"
        for path in (
            "/admin/archive/1999-01-01/ledger.csv",
            f"/admin/archive/{day}/voting-none.csv",
        ):
            missing = await http.get(path, headers=admin)
            assert missing.status_code == 404, missing.text
            assert missing.json()["error"]["code"] == "NOT_FOUND"
        file = await http.get(f"/admin/archive/{day}/ledger.csv", headers=admin)
        assert file.status_code == 200
        assert file.headers["content-disposition"] == f'attachment; filename="{day}-ledger.csv"'
        assert file.headers["etag"] == f'"{hashlib.sha256(file.content).hexdigest()}"'


@pytest.fixture
def own_archiving(servers: Servers, fake_fcm: FakeFcm, tmp_path: Path) -> Iterator[RunningSystem]:
    running = start_archiving(servers, tmp_path, fake_fcm.url)
    yield running
    stop_system(running, servers)


async def test_a_scheduler_killed_mid_run_completes_the_day_and_writes_the_days_missed(
    own_archiving: RunningSystem, store: AsyncMongoClient[dict[str, Any]]
) -> None:
    system = own_archiving.system
    scheduler, wallet = system.processes["scheduler"], system.processes["wallet"]
    database = store[f"{own_archiving.namespace}_scheduler"]
    async with httpx.AsyncClient(base_url=own_archiving.api, timeout=30) as http:
        admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
        voter = await signup_and_login(http)
        # A voting that ends a second into a day D still to come.
        day = after(day_of(datetime.now(UTC) + timedelta(seconds=2)), 1)
        created = await http.post(
            "/admin/votings",
            headers=admin,
            json={
                "title": "Cut short",
                "description": "",
                "options": ["Yes", "No"],
                "kind": "free",
                "opens_at": (datetime.now(UTC) + timedelta(seconds=0.5)).isoformat(),
                "closes_at": (starts(day) + timedelta(seconds=1)).isoformat(),
            },
        )
        assert created.status_code == 201, created.text
        voting = created.json()

        async def voted() -> bool:
            answer = await vote(http, voter, voting)
            return answer.status_code == 201

        await eventually(voted, timeout=10)
        await listed_through(http, admin, after(day, -1))

        # The wallet freezes: the run of D writes the voting's file, then waits for the
        # wallet's answer, and dies there.
        file = f"voting-{voting['id']}.csv"
        wallet.pause()
        try:

            async def voting_file_written() -> list[dict[str, Any]]:
                prefix = f"{day}/{file}@"
                found = database["archive_chunks"].find(
                    {"_id": {"$gte": prefix, "$lt": f"{prefix}~"}}
                )
                return [chunk async for chunk in found]

            written = await eventually(voting_file_written, timeout=30)
            scheduler.kill()
        finally:
            wallet.resume()
        assert await database["archive_days"].find_one({"_id": day}) is None

        # Down while two more days end and fall due; then back.
        missed = [after(day, 1), after(day, 2)]
        await eventually(lambda: datetime.now(UTC) >= due(missed[-1]), timeout=30)
        scheduler.start()
        await asyncio.to_thread(system.wait_ready, 60.0, ("scheduler",))
        await listed_through(http, admin, missed[-1])

        days = await archived(http, admin)
        assert {day, *missed} <= set(days)
        [archived_file] = [f for f in days[day]["files"] if f["name"] == file]
        content = b"".join(chunk["data"] for chunk in sorted(written, key=lambda c: c["_id"]))
        assert archived_file["sha256"] == hashlib.sha256(content).hexdigest()
        rows = await table(http, admin, day, file)
        assert [(r["option"], r["votes"]) for r in rows] == [("Yes", "1"), ("No", "0")]
        # What the killed run wrote is gone: one copy of each file.
        await eventually(lambda: all_settled(http, admin, database), timeout=30)
