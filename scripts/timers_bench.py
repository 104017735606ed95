"""How late the scheduler fires timers (``make bench-timers``).

In one run on this machine: starts the local stack if needed and the scheduler as a
process; measures a bare asyncio timer's lateness (N timers due within one second in
this process); then schedules N votings whose opening times fall within one second, as
the voting service would announce them, and records when each ``VotingOpenTimeReached``
arrives at a consumer of its own. Prints p50 and p99 lateness of both side by side.
Numbers, never assertions: a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient

from contracts import Envelope
from contracts.scheduler import VotingOpenTimeReached
from contracts.voting import VotingOption, VotingScheduled
from eventing.bus import Bus
from eventing.settings import RuntimeSettings
from scripts.launch import ROOT, ServiceProcess, free_port, local_stack

OUT_DIR = ROOT / ".stack" / "bench"


def percentiles(late: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(late, n=100, method="inclusive")
    return cuts[49], cuts[98]


async def bare_asyncio(count: int) -> list[float]:
    """Lateness in ms of ``count`` asyncio sleeps due within one second."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 1.0
    late: list[float] = []

    async def one(n: int) -> None:
        due = start + n / count
        await asyncio.sleep(due - loop.time())
        late.append((loop.time() - due) * 1000)

    await asyncio.gather(*(one(n) for n in range(count)))
    return late


async def scheduler_lateness(
    count: int, tick: float, ahead: timedelta, log: Any
) -> tuple[list[float], int, float | None]:
    """The lateness in ms of each fired event received, how many never came, and how long
    the scheduler took to set every timer (None: not all were set before the first due)."""
    namespace = f"timers{uuid.uuid4().hex[:8]}"
    settings = RuntimeSettings(namespace=namespace)
    env = {
        **os.environ,
        "LIVEVOTE_NAMESPACE": namespace,
        "LIVEVOTE_HEALTH_PORT": str(free_port()),
        "LIVEVOTE_SCHEDULER_TICK_SECONDS": str(tick),
        "LIVEVOTE_LOG_LEVEL": "WARNING",
    }
    scheduler = ServiceProcess("scheduler", env, log)
    bus = Bus(settings, "voting")
    late: list[float] = []
    done = asyncio.Event()

    async def opened(event: VotingOpenTimeReached, _: Envelope) -> None:
        late.append((datetime.now(UTC) - event.due_at).total_seconds() * 1000)
        if len(late) == count:
            done.set()

    bus.consume_broadcast({VotingOpenTimeReached: opened}, [VotingOpenTimeReached.binding()])
    scheduler.start()
    try:
        await bus.start()
        await asyncio.to_thread(scheduler.wait_ready)
        announced = time.monotonic()
        first = datetime.now(UTC) + ahead
        announcements = []
        for n in range(count):
            opens_at = first + timedelta(seconds=n / count)
            voting_id = f"{namespace}-v{n}"
            event = VotingScheduled(
                voting_id=voting_id,
                title="t",
                description="",
                kind="free",
                cost=0,
                options=[VotingOption(id="o", label="o")],
                opens_at=opens_at,
                closes_at=opens_at + timedelta(hours=1),
                scheduled_by="bench",
            )
            announcements.append(
                Envelope.wrap(event).model_copy(
                    update={"stream": f"voting-{voting_id}", "version": 1}
                )
            )
        for start in range(0, count, 200):
            await bus.publish_events(announcements[start : start + 200])
        setting = await _all_set(settings, 4 * count, announced, ahead.total_seconds())
        try:
            async with asyncio.timeout(ahead.total_seconds() + 120):
                await done.wait()
        except TimeoutError:
            pass
        return late, count - len(late), setting
    finally:
        await bus.stop()
        scheduler.stop()
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url)
        await client.drop_database(settings.database_name("scheduler"))
        await client.close()


async def _all_set(
    settings: RuntimeSettings, timers: int, since: float, limit: float
) -> float | None:
    """Seconds until the scheduler has stored ``timers`` timers, or None past ``limit``."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url)
    collection = client[settings.database_name("scheduler")]["timers"]
    try:
        while time.monotonic() - since < limit:
            if await collection.count_documents({}) >= timers:
                return time.monotonic() - since
            await asyncio.sleep(0.5)
        return None
    finally:
        await client.close()


async def run(count: int, tick: float, ahead: timedelta) -> int:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    log_path = OUT_DIR / f"timers-{uuid.uuid4().hex[:8]}.log"
    print(f"services' output: {log_path}")
    bare = await bare_asyncio(count)
    with log_path.open("w") as log:
        late, missing, setting = await scheduler_lateness(count, tick, ahead, log)
    bare_p50, bare_p99 = percentiles(bare)
    set_in = f"{setting:.1f} s" if setting is not None else f"more than {ahead.seconds} s"
    print(f"\nsetting the timers of {count:,} votings (4 each) took {set_in}")
    print(f"{count:,} timers due within one second, lateness in ms (p50 / p99):")
    print(f"  bare asyncio timers, in this process: {bare_p50:8.1f} / {bare_p99:8.1f}")
    if len(late) >= 2:
        p50, p99 = percentiles(late)
        print(
            f"  scheduler (tick {tick} s), fired event received: {p50:8.1f} / {p99:8.1f}"
            f"  ({len(late):,} received, {missing:,} missing)"
        )
    else:
        print(f"  scheduler: only {len(late)} of {count:,} events arrived")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.timers_bench", description=__doc__)
    parser.add_argument("--timers", type=int, default=1000, help="timers due (default 1000)")
    parser.add_argument(
        "--tick", type=float, default=0.5, help="LIVEVOTE_SCHEDULER_TICK_SECONDS (default 0.5)"
    )
    parser.add_argument(
        "--ahead",
        type=float,
        default=60,
        help="seconds from announcing the votings to their first opening (default 60)",
    )
    arguments = parser.parse_args(argv)
    with local_stack():
        return asyncio.run(
            run(arguments.timers, arguments.tick, timedelta(seconds=arguments.ahead))
        )


if __name__ == "__main__":
    sys.exit(main())
