"""CPU time and resident memory of every process a vote passes through, over one run.

The services (or the peer), the broker, the MongoDB-wire server (and its database server),
and this benchmark's own client share the machine's cores; CPU time per vote in each of
them tells where a vote's cost goes and what the machine could carry at best. Their
resident memory is sampled while the votes go through, for each process's peak next to
its size when the run began.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from eventing.settings import RuntimeSettings
from scripts.launch import System

if TYPE_CHECKING:
    from bench.load import Run

BENCH_CLIENT = "bench client"
# Where the store says how many commands of each kind it has served: the local FerretDB's
# debug handler, on the port scripts/stack.sh gives it. A store without one is not counted.
STORE_METRICS_URL = (
    f"http://127.0.0.1:{os.environ.get('LIVEVOTE_FERRETDB_METRICS_PORT', '8088')}/debug/metrics"
)
STORE_COMMANDS = "ferretdb_client_requests"
# How often resident memory is read: often enough to catch a peak of a run that lasts
# seconds, seldom enough to cost the bench client next to nothing.
SAMPLE_SECONDS = 0.2


@dataclass(frozen=True)
class Watched:
    """A process to measure, with its children unless told otherwise."""

    name: str  # its memory is shown under this name (one replica, say)
    group: str  # its CPU time is summed with the others of this group (the service)
    pid: int
    children: bool = True


@dataclass
class Memory:
    """Resident set sizes in bytes, by process name."""

    at_start: dict[str, int] = field(default_factory=dict)
    peak: dict[str, int] = field(default_factory=dict)
    # The largest sum over the system's processes at one moment (every measured one but
    # the bench's own client, which is no part of the system and keeps every sample).
    peak_total: int = 0

    @classmethod
    def pooled(cls, measured: Sequence[Memory]) -> Memory:
        """Over several spans: the sizes at the start of the first, the peaks of all."""
        pooled = cls(at_start=dict(measured[0].at_start) if measured else {})
        for memory in measured:
            for name, size in memory.peak.items():
                pooled.peak[name] = max(size, pooled.peak.get(name, 0))
            pooled.peak_total = max(pooled.peak_total, memory.peak_total)
        return pooled


def services(system: System) -> list[Watched]:
    """Every running process of livevote's services."""
    return [
        Watched(process.name, process.service, process.process.pid)
        for process in system.processes.values()
        if process.process is not None
    ]


def stack(settings: RuntimeSettings, *, broker: bool) -> list[Watched]:
    """The store (and the broker, when asked) the run uses.

    Found by the port it listens on, so another stack on the same machine (a soak run's,
    say) is not counted; by the process's name where the listening sockets cannot be read.
    """
    wanted = [("ferretdb", "ferretdb", _port(settings.mongodb_url, 27017))]
    if broker:
        wanted.append(("rabbitmq", "beam.smp", _port(settings.rabbitmq_url, 5672)))
    listeners = _listeners()
    found: list[Watched] = []
    for group, process_name, port in wanted:
        if port in listeners:
            found.append(Watched(group, group, listeners[port]))
        else:
            found += [Watched(group, group, p.pid) for p in _named(process_name)]
    # A PostgreSQL server behind FerretDB: its postmaster, whose children are the backends.
    postgres = _named("postgres")
    postgres_pids = {p.pid for p in postgres}
    for process in postgres:
        with contextlib.suppress(psutil.Error):
            if process.ppid() not in postgres_pids:
                found.append(Watched("postgresql", "postgresql", process.pid))
    return found


def _port(url: str, default: int) -> int:
    # A MongoDB URL may name several hosts; the first is the one a local run uses.
    first_host = urlsplit(url).netloc.rsplit("@", 1)[-1].split(",")[0]
    host, _, port = first_host.rpartition(":")
    return int(port) if host and port.isdigit() else default


def _listeners() -> dict[int, int]:
    """Listening TCP port to process id; empty when the sockets cannot be read."""
    try:
        connections = psutil.net_connections("tcp")
    except psutil.Error:
        return {}
    return {
        c.laddr.port: c.pid
        for c in connections
        if c.status == psutil.CONN_LISTEN and c.pid is not None and c.laddr
    }


def _named(prefix: str) -> list[psutil.Process]:
    return [
        process
        for process in psutil.process_iter(["name"])
        if (process.info["name"] or "").startswith(prefix)
    ]


def store_described(settings: RuntimeSettings) -> str:
    """What the store is and when it makes a write durable, read from its command line:
    the same code runs twice as fast for the peer on a store syncing every command
    (README, FerretDB locally), so a run says which one it measured."""
    for watched in stack(settings, broker=False):
        if watched.group == "ferretdb":
            with contextlib.suppress(psutil.Error):
                return ferretdb_described(psutil.Process(watched.pid).cmdline())
    return "a MongoDB-wire server"


def ferretdb_described(command: Sequence[str]) -> str:
    """FerretDB's backend, and for SQLite its ``synchronous`` setting, from its arguments."""
    options = dict(arg.removeprefix("--").partition("=")[::2] for arg in command[1:])
    handler = options.get("handler", "?")
    if handler != "sqlite":
        return f"FerretDB, {handler} backend"
    found = re.search(r"synchronous\((\w+)\)", options.get("sqlite-url", ""))
    synchronous = found.group(1).lower() if found else "full (SQLite's default)"
    return f"FerretDB, SQLite backend, synchronous={synchronous}"


def store_commands() -> dict[str, float]:
    """Commands the store has served since it started, by name (insert, delete, ...);
    empty when it does not say."""
    try:
        text = httpx.get(STORE_METRICS_URL, timeout=2.0).text
    except httpx.HTTPError:
        return {}
    served: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != STORE_COMMANDS:
            continue
        for sample in family.samples:
            command = sample.labels.get("command", "?")
            served[command] = served.get(command, 0.0) + sample.value
    return served


class Meter:
    """CPU seconds per group and resident memory per process, between start and stop.

    The bench's own process is always measured, as the client.
    """

    def __init__(self, watched: Sequence[Watched]) -> None:
        self._watched = [
            *watched,
            Watched(BENCH_CLIENT, BENCH_CLIENT, psutil.Process().pid, children=False),
        ]
        # Not its children: they are the services and the peer, measured on their own.
        self._before: dict[str, float] = {}
        self._stopped = threading.Event()
        self._sampler: threading.Thread | None = None
        self.spent: dict[str, float] = {}
        self.memory = Memory()
        self._commands_before: dict[str, float] = {}
        # Store commands served between start and stop, by name (every client's).
        self.store_commands: dict[str, float] = {}

    def _processes(self) -> Iterable[tuple[Watched, psutil.Process]]:
        for watched in self._watched:
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(watched.pid)
                children = root.children(recursive=True) if watched.children else []
                for process in [root, *children]:
                    yield watched, process

    def _read_cpu(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for watched, process in self._processes():
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                totals[watched.group] = totals.get(watched.group, 0.0) + times.user + times.system
        return totals

    def _read_memory(self) -> dict[str, int]:
        sizes: dict[str, int] = {}
        for watched, process in self._processes():
            with contextlib.suppress(psutil.Error):
                sizes[watched.name] = sizes.get(watched.name, 0) + process.memory_info().rss
        return sizes

    def _sample(self) -> None:
        sizes = self._read_memory()
        for name, size in sizes.items():
            self.memory.peak[name] = max(size, self.memory.peak.get(name, 0))
        system = sum(size for name, size in sizes.items() if name != BENCH_CLIENT)
        self.memory.peak_total = max(system, self.memory.peak_total)

    def _sample_until_stopped(self) -> None:
        while not self._stopped.wait(SAMPLE_SECONDS):
            self._sample()

    def start(self) -> None:
        self.memory = Memory(at_start=self._read_memory())
        self._sample()
        self._stopped.clear()
        # A thread rather than a task: reading /proc blocks, and the event loop is the
        # load generator's.
        self._sampler = threading.Thread(target=self._sample_until_stopped, daemon=True)
        self._sampler.start()
        self._commands_before = store_commands()
        self._before = self._read_cpu()

    def measured(self, run: Run) -> None:
        """Give ``run`` what was measured between start and stop."""
        run.cpu, run.memory, run.store_commands = self.spent, self.memory, self.store_commands

    def stop(self) -> None:
        after = self._read_cpu()
        self.spent = {g: after[g] - self._before.get(g, 0.0) for g in after}
        commands = store_commands()
        self.store_commands = {
            command: served - self._commands_before.get(command, 0.0)
            for command, served in commands.items()
            if served > self._commands_before.get(command, 0.0)
        }
        self._stopped.set()
        if self._sampler is not None:
            self._sampler.join()
            self._sampler = None
        self._sample()
