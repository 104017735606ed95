"""livevote's free and paid runs: votes through the gateway, timed and metered from the
first vote until every vote is counted (and, when paid, its credit debited), then their
accounting."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from bench.accounting import (
    Accounting,
    count_events,
    counted_votes,
    open_reservations,
    settled_count,
)
from bench.fixtures import Unavailable, balances, grant_credits
from bench.load import Run, User, drive
from bench.meter import Meter, services, stack
from bench.options import Options
from contracts.wallet import CreditsDebited
from eventing.bus import Bus
from eventing.settings import RuntimeSettings
from scripts.launch import System


@dataclass
class Livevote:
    options: Options
    concurrency: int
    system: System
    settings: RuntimeSettings
    http: httpx.AsyncClient
    admin: dict[str, str]

    @property
    def api(self) -> str:
        return f"{self.system.base_url}/api/v1"

    def meter(self) -> Meter:
        """Every service process, the broker, the store and the bench client."""
        return Meter(services(self.system) + stack(self.settings, broker=True))

    async def _drive(
        self, kind: str, voters: Sequence[User], votings: Sequence[dict[str, Any]]
    ) -> tuple[Run, Meter]:
        """Every voter's vote in every voting, metered from the first vote on (the caller
        stops the meter once the votes are settled)."""
        print(
            f"{kind} run: {len(voters) * len(votings):,} votes in {len(votings)} voting(s), "
            f"{self.concurrency} in flight",
            flush=True,
        )
        meter = self.meter()
        meter.start()
        run = await drive(self.api, kind, voters, votings, self.concurrency)
        return run, meter

    async def free_run(
        self, voters: Sequence[User], votings: Sequence[dict[str, Any]]
    ) -> tuple[Run, Accounting]:
        run, meter = await self._drive("free", voters, votings)
        counted, source = await settled_count(
            lambda: counted_votes(self.http, self.admin, self.settings, votings),
            run.accepted,
            self.options.settle_seconds,
        )
        meter.stop()
        meter.measured(run)
        return run, Accounting.of(run, counted, source)

    async def paid_run(
        self, voters: Sequence[User], votings: Sequence[dict[str, Any]]
    ) -> tuple[Run | None, Accounting | str]:
        """The paid run and its accounting, or why there is none."""
        bus = Bus(self.settings, "bench")
        await bus.start()
        try:
            how = await grant_credits(
                self.http, self.admin, voters, bus, self.concurrency, len(votings)
            )
        except Unavailable as error:
            return None, str(error)
        finally:
            await bus.stop()
        print(f"  granted {len(votings)} credit(s) each to {len(voters):,} users {how}", flush=True)
        before = await balances(self.http, voters, self.concurrency)
        run, meter = await self._drive("paid", voters, votings)
        if run.accepted == 0:
            meter.stop()
            return run, f"no paid vote was accepted: {dict(run.errors())}"
        accounting = await self._paid_accounting(votings, run, meter)
        meter.measured(run)
        if isinstance(accounting, Accounting):
            after = await balances(self.http, voters, self.concurrency)
            accounting.debited = sum(before) - sum(after)
            accounting.debited_source = "users' balance drops, GET /me"
        return run, accounting

    async def _paid_accounting(
        self, votings: Sequence[dict[str, Any]], run: Run, meter: Meter
    ) -> Accounting | str:
        """Waits until the votes are counted and their credits debited, then stops the
        meter (reading the balances afterwards is not the votes' cost)."""
        counted, source = await settled_count(
            lambda: counted_votes(self.http, self.admin, self.settings, votings),
            run.accepted,
            self.options.settle_seconds,
        )
        if counted == 0:
            meter.stop()
            return (
                f"{run.count(202):,} paid votes answered 202 and none was counted within "
                f"{self.options.settle_seconds:.0f} s: the paid-vote saga did not finish"
            )

        # A vote is counted before the wallet debits its credit: wait for the debits too,
        # by the reservations left open. Counting the debits reads every account's events,
        # the more the longer the store has run: the bench's own cost, not the votes', so
        # it comes after the meter stops.
        async def still_open() -> tuple[int, str]:
            return await open_reservations(self.settings), "the wallet's open reservations"

        await settled_count(still_open, 0, self.options.settle_seconds)
        meter.stop()
        in_store = await count_events(
            self.settings, "wallet", "account-", CreditsDebited.type, {v["id"] for v in votings}
        )
        accounting = Accounting.of(run, counted, source)
        accounting.notes.append(f"CreditsDebited events in the wallet's store: {in_store:,}")
        return accounting
