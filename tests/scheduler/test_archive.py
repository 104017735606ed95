"""The daily archive on a real broker and store: the scheduler asks stand-ins of voting,
wallet and notifier for a day's facts and writes the day's files once, on time, after
downtime, with two replicas, and again after a run cut short.

Time is a FixedClock the tests move; days are calendar days, written at 00:15 UTC.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from contracts import Envelope, Message, Reply
from contracts.notifier import CampaignDeliveries, Delivery, ListCampaigns
from contracts.scheduler import (
    ArchiveChunk,
    ArchiveDays,
    ArchiveFile,
    GetArchiveFile,
    ListArchive,
    ReadArchiveChunk,
)
from contracts.voting import ClosedVoting, ClosedVotings, ListClosedVotings, OptionVotes
from contracts.wallet import CreditChange, CreditChanges, ListCreditChanges
from eventing.clock import FixedClock
from eventing.handlers import HandlerMap
from eventing.service import ServiceRuntime
from eventing.settings import RuntimeSettings
from services.scheduler.archive_files import CHUNK_BYTES, LEDGER_HEADER
from services.scheduler.archiving import LEDGER_PAGE
from services.scheduler.service import SchedulerService
from services.scheduler.settings import SchedulerSettings
from tests.scheduler.conftest import running
from tests.support import Rounds, eventually

DAY = date(2030, 5, 17)
MIDNIGHT = datetime(2030, 5, 17, tzinfo=UTC)
# More changes than one page and one chunk hold.
CHANGES = LEDGER_PAGE + 1500


class Facts:
    """The services' answers about the days: two votings ending on 17 May (one closed
    early), one on the 18th; thousands of credit changes on the 17th; campaigns."""

    def __init__(self) -> None:
        self.votings = [
            closed("v-b", MIDNIGHT + timedelta(hours=20), votes=(4, 1)),
            closed("v-a", MIDNIGHT + timedelta(hours=9), votes=(0, 2)),
            closed("v-c", MIDNIGHT + timedelta(days=1, hours=1), votes=(1, 1)),
        ]
        self.changes = [
            CreditChange(
                event_id=f"e{n:05d}",
                at=MIDNIGHT + timedelta(seconds=n * 7),
                user_id=f"user-{n % 40}",
                kind="grant",
                amount=2,
                balance_change=2,
                voting_id=None,
                reference="admin",
                reason=f"a long enough reason to make the ledger more than one chunk: {n}",
            )
            for n in range(CHANGES)
        ]
        self.campaigns = [
            Delivery(
                id="update:u1",
                kind="update",
                title="News",
                audience=3,
                inboxed=3,
                in_app=1,
                pushed=1,
                failed=1,
                tokens_removed=0,
                without_device=0,
                done=True,
                created_at=MIDNIGHT + timedelta(hours=12),
            )
        ]
        # Ledger questions asked, and a gate the wallet waits at when closed.
        self.ledger_asked = 0
        self.wallet_open = asyncio.Event()
        self.wallet_open.set()

    def handlers(self) -> dict[str, HandlerMap[Reply]]:
        return {
            "voting": HandlerMap[Reply]().on(ListClosedVotings, self.closed_votings),
            "wallet": HandlerMap[Reply]().on(ListCreditChanges, self.credit_changes),
            "notifier": HandlerMap[Reply]().on(ListCampaigns, self.deliveries),
        }

    async def closed_votings(self, query: ListClosedVotings, _: Envelope) -> Reply:
        items = [v for v in self.votings if query.since <= v.ended_at < query.until]
        return Reply.ok(ClosedVotings(items=items).model_dump(mode="json"))

    async def credit_changes(self, query: ListCreditChanges, _: Envelope) -> Reply:
        self.ledger_asked += 1
        await self.wallet_open.wait()
        day = [c for c in self.changes if query.since <= c.at < query.until]
        start = int(query.after) if query.after else 0
        page = day[start : start + query.limit]
        more = start + query.limit < len(day)
        answer = CreditChanges(items=page, next_cursor=str(start + query.limit) if more else None)
        return Reply.ok(answer.model_dump(mode="json"))

    async def deliveries(self, query: ListCampaigns, _: Envelope) -> Reply:
        items = [d for d in self.campaigns if query.since <= d.created_at < query.until]
        return Reply.ok(CampaignDeliveries(items=items).model_dump(mode="json"))


def closed(voting_id: str, ended_at: datetime, votes: tuple[int, int]) -> ClosedVoting:
    return ClosedVoting(
        voting_id=voting_id,
        title=f"Voting {voting_id}",
        kind="free",
        cost=0,
        opens_at=ended_at - timedelta(hours=1),
        closes_at=ended_at,
        ended_at=ended_at,
        options=[
            OptionVotes(id=f"{voting_id}-{n + 1}", label=label, votes=count)
            for n, (label, count) in enumerate(zip(("Yes", "No"), votes, strict=True))
        ],
    )


@pytest.fixture
def facts() -> Facts:
    return Facts()


@pytest.fixture
async def services(settings: RuntimeSettings, facts: Facts) -> AsyncIterator[ServiceRuntime]:
    """Voting, wallet and notifier stand-ins; yields one in the gateway's place."""
    runtimes = [ServiceRuntime(name, settings) for name in facts.handlers()]
    for runtime in runtimes:
        runtime.serve(commands=facts.handlers()[runtime.name])
    asker = ServiceRuntime("gateway", settings)
    asker.serve()
    for runtime in [*runtimes, asker]:
        await runtime.start()
    yield asker
    for runtime in [*runtimes, asker]:
        await runtime.stop()


@pytest.fixture
def clock() -> FixedClock:
    # 17 May, mid-afternoon: the 16th is the first day to archive.
    return FixedClock(MIDNIGHT + timedelta(hours=15))


@pytest.fixture
def archive_settings(settings: RuntimeSettings) -> SchedulerSettings:
    return SchedulerSettings(
        **settings.model_dump(),
        scheduler_tick_seconds=0.05,
        archive_first_day=DAY - timedelta(days=1),
        archive_lease_seconds=2,
    )


async def ask(asker: ServiceRuntime, query: Message) -> Any:
    reply = await asker.bus.request("scheduler", Envelope.wrap(query))
    assert reply.error is None, reply.error
    return reply.result


async def listed(asker: ServiceRuntime) -> dict[str, list[str]]:
    """The days archived, each with its files' names."""
    days = ArchiveDays.model_validate(await ask(asker, ListArchive()))
    return {day.day: [file.name for file in day.files] for day in days.days}


async def download(asker: ServiceRuntime, day: str, name: str) -> bytes:
    file = ArchiveFile.model_validate(await ask(asker, GetArchiveFile(day=day, name=name)))
    pieces = [
        ArchiveChunk.model_validate(
            await ask(asker, ReadArchiveChunk(day=day, name=name, index=index))
        ).data
        for index in range(file.chunks)
    ]
    content = b"".join(pieces)
    assert (len(content), hashlib.sha256(content).hexdigest()) == (file.bytes, file.sha256)
    return content


def table(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode())))


async def chunks_stored(scheduler: SchedulerService) -> int:
    return await scheduler.db["archive_chunks"].count_documents({})


async def chunks_listed(asker: ServiceRuntime) -> int:
    days = ArchiveDays.model_validate(await ask(asker, ListArchive()))
    return sum(file.chunks for day in days.days for file in day.files)


async def day_listed(asker: ServiceRuntime, day: str) -> bool:
    return day in await listed(asker)


async def test_each_day_is_written_once_its_archive_time_has_come(
    archive_settings: SchedulerSettings, clock: FixedClock, services: ServiceRuntime
) -> None:
    async with running(SchedulerService(archive_settings, clock)) as scheduler:
        assert isinstance(scheduler, SchedulerService)
        rounds = Rounds(scheduler.archive_loop, "write_due")
        # The 16th, a quiet day: its files hold their headers alone.
        await eventually(lambda: day_listed(services, "2030-05-16"))
        assert await listed(services) == {"2030-05-16": ["ledger.csv", "notifications.csv"]}
        assert table(await download(services, "2030-05-16", "ledger.csv")) == [list(LEDGER_HEADER)]

        clock.advance(timedelta(hours=9, minutes=14, seconds=59))  # 00:14:59 on the 18th
        await rounds.one_begun_now()
        assert "2030-05-17" not in await listed(services)

        clock.advance(timedelta(seconds=1))
        await eventually(lambda: day_listed(services, "2030-05-17"))
        assert (await listed(services))["2030-05-17"] == [
            "ledger.csv",
            "notifications.csv",
            "voting-v-a.csv",
            "voting-v-b.csv",
        ]
        voting = ["v-b", "Voting v-b", "free", "0"]
        times = ["2030-05-17T19:00:00.000Z", "2030-05-17T20:00:00.000Z", "2030-05-17T20:00:00.000Z"]
        assert table(await download(services, "2030-05-17", "voting-v-b.csv"))[1:] == [
            [*voting, *times, "v-b-1", "Yes", "4"],
            [*voting, *times, "v-b-2", "No", "1"],
        ]
        ledger = table(await download(services, "2030-05-17", "ledger.csv"))
        # Every change of the day, in order, over several pages and chunks.
        assert [row[8] for row in ledger[1:]] == [f"e{n:05d}" for n in range(CHANGES)]
        file = ArchiveFile.model_validate(
            await ask(services, GetArchiveFile(day="2030-05-17", name="ledger.csv"))
        )
        assert (file.rows, file.chunks) == (CHANGES, -(-file.bytes // CHUNK_BYTES))
        assert file.chunks > 1
        notifications = table(await download(services, "2030-05-17", "notifications.csv"))
        assert [row[:3] for row in notifications] == [
            ["campaign_id", "kind", "voting_id"],
            ["update:u1", "update", ""],
        ]
        # One copy of every file.
        assert await chunks_stored(scheduler) == await chunks_listed(services)


async def test_two_replicas_write_each_day_once(
    archive_settings: SchedulerSettings, clock: FixedClock, services: ServiceRuntime
) -> None:
    async with (
        running(SchedulerService(archive_settings, clock)) as first,
        running(SchedulerService(archive_settings, clock)) as second,
    ):
        assert isinstance(first, SchedulerService) and isinstance(second, SchedulerService)
        clock.advance(timedelta(days=3))  # the 16th to the 19th are due
        days = ["2030-05-16", "2030-05-17", "2030-05-18", "2030-05-19"]
        await eventually(lambda: all_listed(services, days), timeout=30)
        # Extra rounds on both, all going for days written already, write nothing more.
        loops = (first.archive_loop, second.archive_loop) * 3
        assert sum(await asyncio.gather(*(loop.write_due() for loop in loops))) == 0
        assert sorted(await listed(services)) == days
        assert await chunks_stored(first) == await chunks_listed(services)


async def all_listed(asker: ServiceRuntime, days: list[str]) -> bool:
    return set(days) <= set(await listed(asker))


async def test_days_missed_while_no_scheduler_ran_are_written_when_one_starts(
    archive_settings: SchedulerSettings, clock: FixedClock, services: ServiceRuntime
) -> None:
    async with running(SchedulerService(archive_settings, clock)):
        await eventually(lambda: day_listed(services, "2030-05-16"))
    clock.advance(timedelta(days=4))  # down from the 17th to the 21st, in the afternoon
    async with running(SchedulerService(archive_settings, clock)):
        days = ["2030-05-16", "2030-05-17", "2030-05-18", "2030-05-19", "2030-05-20"]
        await eventually(lambda: all_listed(services, days), timeout=30)
        assert sorted(await listed(services)) == days
        assert "voting-v-c.csv" in (await listed(services))["2030-05-18"]


async def test_a_run_cut_short_is_completed_with_the_same_files(
    archive_settings: SchedulerSettings,
    clock: FixedClock,
    services: ServiceRuntime,
    facts: Facts,
) -> None:
    settings = archive_settings.model_copy(update={"archive_first_day": DAY})
    clock.advance(timedelta(hours=10))  # 01:00 on the 18th: the 17th is due
    facts.wallet_open.clear()
    async with running(SchedulerService(settings, clock)) as scheduler:
        assert isinstance(scheduler, SchedulerService)
        # Stopped while it waits for the wallet: the votings' files are written by then.
        await eventually(lambda: facts.ledger_asked > 0)
        cut_short = await scheduler.db["archive_chunks"].find({}).to_list()
        assert await listed(services) == {}
    assert {chunk["_id"].partition("@")[0] for chunk in cut_short} == {
        "2030-05-17/voting-v-a.csv",
        "2030-05-17/voting-v-b.csv",
    }

    facts.wallet_open.set()
    async with running(SchedulerService(settings, clock)) as again:
        assert isinstance(again, SchedulerService)
        await eventually(lambda: day_listed(services, "2030-05-17"), timeout=15)
        for chunk in cut_short:
            name = chunk["_id"].partition("/")[2].partition("@")[0]
            file = ArchiveFile.model_validate(
                await ask(services, GetArchiveFile(day="2030-05-17", name=name))
            )
            assert file.sha256 == hashlib.sha256(chunk["data"]).hexdigest()
        # The run cut short left chunks no day names: they are gone.
        await eventually(lambda: chunks_settled(again, services))


async def chunks_settled(scheduler: SchedulerService, asker: ServiceRuntime) -> bool:
    return await chunks_stored(scheduler) == await chunks_listed(asker)
