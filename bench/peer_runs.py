"""The plain peer's runs, each right before livevote's of the same kind: the same users (the
same ids, tokens signed with the peer's own secret), the same votings, the same credits and
the same load generator, metered the same way (the peer's process, the store and the bench
client). Then whether its counts add up: every 201 a stored vote and, when paid, every
stored vote one credit less in its voter's balance, which a conditional decrement that is
not atomic under concurrency would break."""

from __future__ import annotations

import os
import secrets
import sys
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any

import jwt
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from bench.accounting import Accounting
from bench.load import Run, User, drive
from bench.meter import Meter, Watched, stack
from bench.peer import BALANCES, TOKEN_ALGORITHM, VOTES, VOTINGS
from eventing.settings import RuntimeSettings
from scripts.launch import ServiceProcess, free_port

PEER = "peer"


class PeerProcess(ServiceProcess):
    """``python -m bench.peer`` on a free loopback port, in the run's namespace: its
    database is dropped with the services' ones."""

    def __init__(self, settings: RuntimeSettings, output: IO[str] | None) -> None:
        env = {
            **os.environ,
            "PEER_MONGODB_URL": settings.mongodb_url,
            "PEER_DATABASE": settings.database_name(PEER),
            "PEER_JWT_SECRET": secrets.token_urlsafe(48),
            "PEER_PORT": str(free_port()),
        }
        super().__init__(PEER, env, output)
        self.command = [sys.executable, "-m", "bench.peer"]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.env['PEER_PORT']}"

    @property
    def ready_url(self) -> str:
        return f"{self.base_url}/healthz"


@dataclass
class Peer:
    process: PeerProcess
    settings: RuntimeSettings
    concurrency: int

    @property
    def api(self) -> str:
        return f"{self.process.base_url}/api/v1"

    @asynccontextmanager
    async def _database(self) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(self.settings.mongodb_url)
        try:
            yield client[self.process.env["PEER_DATABASE"]]
        finally:
            await client.close()

    def users(self, users: Sequence[User]) -> list[User]:
        """livevote's users with the peer's tokens, valid for as long as a run may take."""
        secret = self.process.env["PEER_JWT_SECRET"]
        expires = datetime.now(UTC) + timedelta(hours=2)
        return [
            User(
                id=user.id,
                headers={
                    "Authorization": "Bearer "
                    + jwt.encode({"sub": user.id, "exp": expires}, secret, TOKEN_ALGORITHM)
                },
            )
            for user in users
        ]

    async def add_votings(self, votings: Sequence[dict[str, Any]]) -> None:
        """livevote's votings, as the peer keeps them."""
        async with self._database() as database:
            await database[VOTINGS].insert_many(
                {
                    "_id": voting["id"],
                    "cost": int(voting["cost"]),
                    "options": [option["id"] for option in voting["options"]],
                    "opens_at": datetime.fromisoformat(voting["opens_at"]),
                    "closes_at": datetime.fromisoformat(voting["closes_at"]),
                }
                for voting in votings
            )

    def _meter(self) -> Meter:
        process = self.process.process
        assert process is not None, "the peer is not running"
        return Meter([Watched(PEER, PEER, process.pid), *stack(self.settings, broker=False)])

    async def _drive(
        self, kind: str, voters: Sequence[User], votings: Sequence[dict[str, Any]]
    ) -> Run:
        print(
            f"peer {kind} run: {len(voters) * len(votings):,} votes in {len(votings)} "
            f"voting(s), {self.concurrency} in flight",
            flush=True,
        )
        meter = self._meter()
        meter.start()
        # A 201 from the peer means the vote is stored: nothing is left to settle.
        run = await drive(self.api, f"peer {kind}", voters, votings, self.concurrency)
        meter.stop()
        run.system = PEER
        meter.measured(run)
        return run

    async def free_run(
        self, voters: Sequence[User], votings: Sequence[dict[str, Any]]
    ) -> tuple[Run, Accounting]:
        run = await self._drive("free", self.users(voters), votings)
        stored = await self._stored_votes(votings)
        return run, Accounting.of(run, len(stored), "the peer's votes")

    async def paid_run(
        self, voters: Sequence[User], votings: Sequence[dict[str, Any]]
    ) -> tuple[Run, Accounting]:
        """Each voter starts with a credit for each voting, as livevote's users do."""
        credits = len(votings)
        async with self._database() as database:
            # A round before this one left its balances.
            await database[BALANCES].delete_many({"_id": {"$in": [u.id for u in voters]}})
            await database[BALANCES].insert_many(
                {"_id": user.id, "credits": credits} for user in voters
            )
        run = await self._drive("paid", self.users(voters), votings)
        stored = await self._stored_votes(votings)
        async with self._database() as database:
            left = {
                balance["_id"]: int(balance["credits"])
                async for balance in database[BALANCES].find(
                    {"_id": {"$in": [u.id for u in voters]}}
                )
            }
        accounting = Accounting.of(run, len(stored), "the peer's votes")
        accounting.debited = credits * len(voters) - sum(left.values())
        accounting.debited_source = "the peer's balances: granted - left"
        votes_by_user = Counter(vote["user_id"] for vote in stored)
        taken = {user.id: credits - left.get(user.id, credits) for user in voters}
        short = sum(1 for user in voters if taken[user.id] < votes_by_user[user.id])
        over = sum(1 for user in voters if taken[user.id] > votes_by_user[user.id])
        below_zero = sum(1 for credits_left in left.values() if credits_left < 0)
        if short or over or below_zero:
            accounting.problems.append(
                f"the conditional decrement is not atomic on this store under concurrency: "
                f"{short:,} users' balances dropped by less than their stored votes (votes "
                f"without their credit taken), {over:,} by more, {below_zero:,} below zero"
            )
        else:
            accounting.notes.append(
                "every user's balance dropped by exactly their stored votes: the conditional "
                "decrement held under concurrency"
            )
        return run, accounting

    async def _stored_votes(self, votings: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        async with self._database() as database:
            ids = [voting["id"] for voting in votings]
            return await database[VOTES].find({"voting_id": {"$in": ids}}).to_list()
