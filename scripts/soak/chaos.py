"""The soak's chaos: crashes, a broker restart, a frozen store, one at a time.

Every ``interval`` seconds (on average) one of the following, dealt from a deck that
holds each kind once, shuffled, before the repeats; chaos that is told to stop first deals
any kind not yet seen, so even a short soak sees every kind:

- **kill**: SIGKILL a random service process, then start it again and wait until it is
  ready, as Kubernetes restarts a crashed pod;
- **broker**: stop RabbitMQ's application and start it again (every connection drops);
- **freeze**: SIGSTOP the store's server for a few seconds, then SIGCONT (every query
  hangs, nothing fails fast).

The broker and store actions need the local stack's servers (``scripts/stack.sh``);
without them only processes are killed.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from scripts.launch import ROOT, STACK, System

STACK_DIR = Path(os.environ.get("LIVEVOTE_STACK_DIR", ROOT / ".stack"))


@dataclass
class ChaosLog:
    actions: Counter[str] = field(default_factory=Counter)
    lines: list[str] = field(default_factory=list)

    def add(self, action: str, detail: str, started: float) -> None:
        self.actions[action] += 1
        self.lines.append(f"{time.strftime('%H:%M:%S')} {action:<7} {detail}")
        print(f"[chaos] {action} {detail} ({time.monotonic() - started:.1f} s)", flush=True)


def _store_pid() -> int | None:
    started = STACK_DIR / "run" / "ferretdb.started"
    if not started.exists():
        return None
    pid = int(started.read_text().strip())
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    return pid


def _broker_is_local() -> bool:
    return (STACK_DIR / "run" / "rabbitmq.started").exists()


class Chaos:
    def __init__(
        self, system: System, rng: random.Random, interval: float, freeze: float = 4.0
    ) -> None:
        self._system = system
        self._rng = rng
        self._interval = interval
        self._freeze_seconds = freeze
        self._stop = asyncio.Event()
        self.log = ChaosLog()

    def stop(self) -> None:
        self._stop.set()

    @staticmethod
    def kinds() -> list[str]:
        """The kinds of action this machine allows."""
        kinds = ["kill"]
        if _broker_is_local():
            kinds.append("broker")
        if _store_pid() is not None:
            kinds.append("freeze")
        return kinds

    def deck(self) -> list[str]:
        """One round, dealt from the end: each kind once in a shuffled order, then a second
        crash, so crashes come twice as often as the rest."""
        once = self.kinds()
        self._rng.shuffle(once)
        return ["kill", *once]

    def _unseen(self) -> list[str]:
        return [kind for kind in self.kinds() if kind not in self.log.actions]

    async def run(self) -> None:
        deck: list[str] = []
        while not self._stop.is_set():
            try:
                pause = self._interval * self._rng.uniform(0.5, 1.5)
                await asyncio.wait_for(self._stop.wait(), pause)
                break
            except TimeoutError:
                pass
            deck = deck or self.deck()
            await self._act(deck.pop())
        for action in self._unseen():
            await self._act(action)

    async def _act(self, action: str) -> None:
        started = time.monotonic()
        detail = await asyncio.to_thread(getattr(self, f"_{action}"))
        self.log.add(action, detail, started)

    def _kill(self) -> str:
        process = self._rng.choice(list(self._system.processes.values()))
        process.kill()
        time.sleep(self._rng.uniform(0.5, 3.0))
        process.start()
        self._system.wait_ready(timeout=120, services=(process.service,))
        return process.name

    def _broker(self) -> str:
        rabbitmqctl = [STACK, "rabbitmqctl", "-q"]
        subprocess.run([*rabbitmqctl, "stop_app"], check=True, capture_output=True)
        time.sleep(self._rng.uniform(1.0, 3.0))
        subprocess.run([*rabbitmqctl, "start_app"], check=True, capture_output=True)
        self._system.wait_ready(timeout=120)
        return "RabbitMQ"

    def _freeze(self) -> str:
        pid = _store_pid()
        if pid is None:
            return "no local store to freeze"
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(self._freeze_seconds)
        finally:
            os.kill(pid, signal.SIGCONT)
        return f"the store for {self._freeze_seconds:.0f} s"
