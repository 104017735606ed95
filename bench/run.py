"""One bench run from start to end: the ceilings, the users and votings, then for each kind
(free, then paid) the plain peer's votes right before livevote's, and the report."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from bench.accounting import Accounting
from bench.ceilings import Ceiling, StoreCeiling, broker_ceiling, store_ceiling
from bench.fixtures import close_voting, login, new_user, open_voting
from bench.livevote_runs import Livevote
from bench.load import Run, User
from bench.meter import store_described
from bench.options import Options, parse_options
from bench.peer_runs import Peer, PeerProcess
from bench.profiling import profile, report_profiles
from bench.report import (
    report_accounting,
    report_comparison,
    report_levels,
    report_rounds,
    report_runs,
)
from bench.system import bench_env, drop_namespace, runtime_settings
from eventing.gather import bounded
from eventing.settings import RuntimeSettings
from scripts.launch import System, local_stack


@dataclass
class Outcome:
    """A kind's two runs and their accounting; livevote's paid run may be missing."""

    peer: Run
    peer_accounting: Accounting
    livevote: Run | None
    livevote_accounting: Accounting | str


@dataclass
class Level:
    """The rounds made at one concurrency."""

    concurrency: int
    rounds: list[tuple[Outcome, Outcome]] = field(default_factory=list)


@dataclass
class Bench:
    options: Options
    system: System
    peer_process: PeerProcess
    settings: RuntimeSettings
    load_before: float = field(default_factory=lambda: os.getloadavg()[0])

    @property
    def ceiling_queue(self) -> str:
        return f"{self.settings.namespace}.bench-ceiling"

    @property
    def api(self) -> str:
        return f"{self.system.base_url}/api/v1"

    async def run(self) -> None:
        options = self.options
        print(f"broker ceiling: {options.ceiling_messages:,} messages ...", flush=True)
        ceiling = await broker_ceiling(
            self.settings.rabbitmq_url,
            self.ceiling_queue,
            options.ceiling_messages,
            options.ceiling_in_flight,
        )
        print(
            f"store ceiling: {options.store_inserts:,} inserts, one per command and grouped ...",
            flush=True,
        )
        store = await store_ceiling(self.settings, options.store_inserts, options.concurrencies[0])
        most = max(options.concurrencies)
        limits = httpx.Limits(
            max_connections=most,
            max_keepalive_connections=most,
            # Idle while the votes go through aiohttp; dropped before the server's keep-alive
            # timeout (uvicorn's 5 s) closes them under a request.
            keepalive_expiry=1.0,
        )
        levels: list[Level] = []
        async with httpx.AsyncClient(base_url=self.api, limits=limits, timeout=60) as http:
            env = self.system.env
            admin = await login(http, env["LIVEVOTE_ADMIN_EMAIL"], env["LIVEVOTE_ADMIN_PASSWORD"])
            voters = (await self._users(http))[: options.votes]
            for concurrency in options.concurrencies:
                if len(options.concurrencies) > 1:
                    print(f"{concurrency} requests in flight", flush=True)
                livevote = Livevote(options, concurrency, self.system, self.settings, http, admin)
                peer = Peer(self.peer_process, self.settings, concurrency)
                level = Level(concurrency)
                for number in range(1, options.rounds + 1):
                    if options.rounds > 1:
                        print(f"round {number} of {options.rounds}", flush=True)
                    last = concurrency == options.concurrencies[-1] and number == options.rounds
                    level.rounds.append(
                        await self._round(http, admin, voters, livevote, peer, last)
                    )
                levels.append(level)
        self._report(ceiling, store, levels)

    async def _round(
        self,
        http: httpx.AsyncClient,
        admin: dict[str, str],
        voters: list[User],
        livevote: Livevote,
        peer: Peer,
        last: bool,
    ) -> tuple[Outcome, Outcome]:
        """Each kind's runs in votings of the round's own: the peer's right before
        livevote's, so both meet the machine alike. Unless it is the ``last`` round, its
        votings are closed after, so that the next round's fit among those open at once."""
        count = self.options.votings
        free = [await open_voting(http, admin, "free") for _ in range(count)]
        paid = [await open_voting(http, admin, "paid") for _ in range(count)]
        await peer.add_votings([*free, *paid])
        peer_free = await peer.free_run(voters, free)
        free_outcome = Outcome(*peer_free, *await livevote.free_run(voters, free))
        peer_paid = await peer.paid_run(voters, paid)
        paid_outcome = Outcome(*peer_paid, *await livevote.paid_run(voters, paid))
        if not last:
            for voting in [*free, *paid]:
                await close_voting(http, admin, voting["id"])
        return free_outcome, paid_outcome

    async def _users(self, http: httpx.AsyncClient) -> list[User]:
        count = self.options.users
        print(f"creating {count:,} users (signup + login) ...", flush=True)
        started = time.perf_counter()
        namespace = self.settings.namespace
        at_once = min(max(self.options.concurrencies), 32)
        users = await bounded((new_user(http, namespace, n) for n in range(count)), at_once)
        seconds = time.perf_counter() - started
        print(f"  {count:,} users in {seconds:.1f} s ({count / seconds:.1f}/s)", flush=True)
        return users

    def _report(self, ceiling: Ceiling, store: StoreCeiling, levels: Sequence[Level]) -> None:
        options = self.options
        print(
            f"\nlivevote bench: {options.users:,} users, {options.votes:,} votes in each of "
            f"{options.votings} voting(s) per kind, concurrency "
            f"{', '.join(map(str, options.concurrencies))}, {options.replicas} process(es) "
            f"of each service, {os.cpu_count()} CPUs; 1-minute load average "
            f"{self.load_before:.1f} at the start, {os.getloadavg()[0]:.1f} now"
        )
        if options.rounds > 1:
            print(
                f"{options.rounds} rounds at each concurrency, each in votings of its own: "
                "the tables pool them (every answer, the seconds and CPU added up, the peaks "
                "of all)"
            )
        print(
            "the plain peer (bench.peer): one FastAPI process on uvicorn, PyJWT bearer "
            "tokens, one insert per vote into the same store (a paid one: a conditional "
            "decrement of the balance first)\n"
        )
        print(
            f"broker ceiling (aio-pika, persistent + confirmed, quorum queue, "
            f"{options.ceiling_in_flight} publishes in flight): {ceiling.rate:,.0f} messages/s "
            f"end to end ({ceiling.messages:,} in {ceiling.seconds:.2f} s; publishes confirmed "
            f"at {ceiling.messages / ceiling.publish_seconds:,.0f}/s)"
        )
        print("÷ ceiling = accepted votes/s (201 + 202) divided by the ceiling's messages/s")
        print(
            f"store ({store_described(self.settings)}; {options.concurrencies[0]} inserts in "
            "flight): "
            f"{store.rate:,.0f} commit inserts/s one per command, median "
            f"{store.median_ms:.1f} ms each; {store.grouped_rate:,.0f}/s grouped as the "
            f"event store writes them ({store.inserts:,} each way)"
        )
        compared: list[tuple[int, list[tuple[Run, Run]]]] = []
        for level in levels:
            if len(levels) > 1:
                print(f"\n=== {level.concurrency} requests in flight ===")
            compared.append((level.concurrency, self._report_level(ceiling, level.rounds)))
        if len(levels) > 1:
            report_levels(compared)

    def _report_level(
        self, ceiling: Ceiling, rounds: Sequence[tuple[Outcome, Outcome]]
    ) -> list[tuple[Run, Run]]:
        """The tables of one concurrency's rounds; the peer's and livevote's pooled run of
        each kind livevote has one of."""
        runs: list[Run] = []
        pairs: list[tuple[Run, Run]] = []
        for index in range(2):  # free, then paid
            outcomes = [round_[index] for round_ in rounds]
            peer = Run.pooled([outcome.peer for outcome in outcomes])
            measured = [o.livevote for o in outcomes if o.livevote is not None]
            livevote = Run.pooled(measured) if measured else None
            runs += [peer] + ([livevote] if livevote else [])
            if livevote is not None and livevote.accepted:
                pairs.append((peer, livevote))
        print()
        report_runs(runs, ceiling)
        report_comparison(pairs)
        if len(rounds) > 1:
            report_rounds(
                [
                    [(o.peer, o.livevote) for o in round_ if o.livevote and o.livevote.accepted]
                    for round_ in rounds
                ]
            )
        for number, (free, paid) in enumerate(rounds, start=1):
            for kind, outcome in (("free", free), ("paid", paid)):
                named = kind if len(rounds) == 1 else f"{kind}, round {number}"
                report_accounting(f"peer {named}", outcome.peer_accounting)
                if isinstance(outcome.livevote_accounting, str):
                    print(f"\n{named} run unavailable: {outcome.livevote_accounting}")
                else:
                    report_accounting(named, outcome.livevote_accounting)
        return pairs


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    options.out_dir.mkdir(parents=True, exist_ok=True)
    log_path = options.out_dir / f"{namespace}.log"
    env = bench_env(namespace)
    settings = runtime_settings(env)
    with local_stack(), log_path.open("w") as log:
        print(f"services' output: {log_path}", flush=True)
        system = System(env, output=log, replicas=options.replicas)
        profiles = profile(system, options.profile, log, options.out_dir) if options.profile else {}
        peer = PeerProcess(settings, log)
        bench = Bench(options, system, peer, settings)
        try:
            system.start()
            peer.start()
            peer.wait_ready()
            asyncio.run(bench.run())
        finally:
            peer.stop()
            system.stop()
            if not options.keep:
                asyncio.run(drop_namespace(settings, [bench.ceiling_queue]))
    if isinstance(profiles, str):
        print(f"\nprofile: {profiles}")
    else:
        report_profiles(profiles)
    return 0
