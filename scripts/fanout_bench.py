"""How fast an alert reaches every phone (``make bench-fanout``).

In one run on this machine: starts the local stack if needed, a fake FCM server of its
own and the notifier as a process; loads N users registered to one voting, none voted,
each with one device (written straight into the notifier's read models: loading is not
what is measured); then

1. the raw ceiling: firebase-admin alone sends the same N messages to the same fake
   server, 500 per ``send_each_async`` call, two calls at once (as the notifier does);
2. livevote: publishes the scheduler's ``VotingClosingSoon`` and times it until the fake
   server has received the last push;

and prints pushes/s for both and their ratio, then checks that every recipient has one
inbox entry and one push. Numbers, never assertions: a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient

from contracts import Envelope
from contracts.scheduler import VotingClosingSoon
from eventing.bus import Bus
from eventing.settings import RuntimeSettings
from scripts.fake_fcm import FakeFcm
from scripts.launch import ROOT, ServiceProcess, free_port, local_stack
from services.notifier.push import FcmPusher, Push
from services.notifier.settings import NotifierSettings

OUT_DIR = ROOT / ".stack" / "bench"
PARALLEL_CALLS = 1


async def _accepted(fcm: FakeFcm) -> int:
    return (await fcm.stats()).get("accepted", 0)


async def _until(fcm: FakeFcm, expected: int, started: float, timeout: float) -> float:
    """Seconds from ``started`` until the fake server has accepted ``expected`` messages
    (or the timeout ran out)."""
    while time.monotonic() - started < timeout:
        if await _accepted(fcm) >= expected:
            break
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def ceiling(fcm: FakeFcm, users: int) -> float:
    """Pushes per second of firebase-admin alone, sending as the notifier does."""
    pusher = FcmPusher(NotifierSettings(fcm_url=fcm.url), app_name=f"ceiling-{uuid.uuid4().hex}")
    pushes = [Push(f"ceiling-{n}", "Last minutes", "Vote now", {"k": "v"}) for n in range(users)]
    chunks = [pushes[i : i + 500] for i in range(0, len(pushes), 500)]
    queue = iter(chunks)
    started = time.monotonic()

    async def worker() -> None:
        for chunk in queue:
            await pusher.send(chunk)

    await asyncio.gather(*(worker() for _ in range(PARALLEL_CALLS)))
    seconds = time.monotonic() - started
    await pusher.close()
    return users / seconds


async def load(db: Any, voting_id: str, users: list[str]) -> None:
    now = datetime.now(UTC)
    await db["votings"].insert_one({"_id": voting_id, "title": "The big final", "kind": "free"})
    for start in range(0, len(users), 1000):
        part = users[start : start + 1000]
        await db["attendees"].insert_many(
            [
                {"_id": f"{voting_id}:{u}", "voting_id": voting_id, "user_id": u, "voted": False}
                for u in part
            ]
        )
        await db["devices"].insert_many(
            [
                {
                    "_id": u,
                    "version": 1,
                    "devices": [{"token": f"phone-{u}", "platform": "ios", "created_at": now}],
                }
                for u in part
            ]
        )


async def run(users: int) -> int:
    namespace = f"fanout{uuid.uuid4().hex[:8]}"
    settings = RuntimeSettings(namespace=namespace)
    fcm = FakeFcm(free_port())
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    log_path = OUT_DIR / f"{namespace}.log"
    fcm.start()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
    db = client[f"{namespace}_notifier"]
    with log_path.open("w") as log:
        env = {
            **os.environ,
            "LIVEVOTE_NAMESPACE": namespace,
            "LIVEVOTE_FCM_URL": fcm.url,
            "LIVEVOTE_HEALTH_PORT": str(free_port()),
            "LIVEVOTE_LOG_LEVEL": "WARNING",
        }
        notifier = ServiceProcess("notifier", env, log)
        bus = Bus(settings, "scheduler")
        try:
            print(f"services' output: {log_path}")
            raw = await ceiling(fcm, users)
            voting_id = f"v-{namespace}"
            names = [f"{namespace}-u{n:06d}" for n in range(users)]
            print(f"loading {users:,} users registered to one voting, one device each ...")
            await load(db, voting_id, names)
            notifier.start()
            await bus.start()
            await asyncio.to_thread(notifier.wait_ready)
            already = await _accepted(fcm)
            now = datetime.now(UTC)
            alert = VotingClosingSoon(
                voting_id=voting_id, closes_at=now + timedelta(minutes=10), due_at=now
            )
            started = time.monotonic()
            await bus.publish_event(Envelope.wrap(alert))
            seconds = await _until(fcm, already + users, started, timeout=600)
            pushed = await _accepted(fcm) - already
            inboxed = await db["inbox_entries"].count_documents({"campaign": f"alert:{voting_id}"})
            rate = pushed / seconds if seconds else 0.0
            print(f"\nfan-out of one alert to {users:,} users, one device each, none voted:")
            print(f"  firebase-admin alone (ceiling): {raw:,.0f} pushes/s")
            print(f"  livevote, event to last push:   {rate:,.0f} pushes/s ({seconds:.1f} s)")
            print(f"  ratio to the ceiling:           {rate / raw:.2f} (goal: at least 0.8)")
            print(f"  accounted: {inboxed:,} inbox entries, {pushed:,} pushes for {users:,} users")
        finally:
            notifier.stop()
            await bus.stop()
            await client.drop_database(f"{namespace}_notifier")
            await client.close()
            fcm.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.fanout_bench", description=__doc__)
    parser.add_argument("--users", type=int, default=50_000, help="recipients (default 50,000)")
    arguments = parser.parse_args(argv)
    with local_stack():
        return asyncio.run(run(arguments.users))


if __name__ == "__main__":
    sys.exit(main())
