"""The soak's mixed load, and the book of what the system accepted.

Workers run side by side until told to stop: signups (half of them opting in to
updates), registrations, free and paid votes (some sent twice), grants, Stripe
purchases reported by signed webhooks (some reported twice), and the operator's
votings and updates. Each records in the :class:`Book` only what the system answered
it accepted; the accounting compares the system's state with the book at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from scripts.soak.client import Answer, Api, GaveUp, User, new_key
from scripts.stripe_events import delivery, paid_checkout

PASSWORD = "soak-password-1"


@dataclass
class Voting:
    id: str
    kind: str
    options: list[str]
    closes_at: datetime


@dataclass
class Book:
    users: list[User] = field(default_factory=list)
    votings: list[Voting] = field(default_factory=list)
    granted: Counter[str] = field(default_factory=Counter)
    purchased: Counter[str] = field(default_factory=Counter)
    # (voting id, user id) -> the final answer to the user's first vote there.
    votes: dict[tuple[str, str], Answer] = field(default_factory=dict)
    # Update title -> monotonic time its POST was answered.
    updates: dict[str, float] = field(default_factory=dict)
    answers: Counter[str] = field(default_factory=Counter)
    gave_up: list[str] = field(default_factory=list)

    def note(self, what: str, answer: Answer) -> None:
        self.answers[f"{what} {answer.status}{' ' + answer.code if answer.code else ''}"] += 1


class Load:
    def __init__(
        self,
        api: Api,
        admin: dict[str, str],
        webhook_secret: str,
        pack: tuple[str, int],
        namespace: str,
        rng: random.Random,
    ) -> None:
        self.api = api
        self.admin = admin
        self._pack_id, self._pack_credits = pack
        self.book = Book()
        self._secret = webhook_secret
        self._namespace = namespace
        self._rng = rng
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        workers = [
            self._every(0.5, self.sign_up),
            self._every(0.15, self.vote),
            self._every(0.15, self.vote),
            self._every(1.0, self.grant),
            self._every(1.0, self.purchase),
            self._every(12.0, self.schedule_votings),
            self._every(15.0, self.send_update),
        ]
        await asyncio.gather(*workers)

    async def _every(self, seconds: float, work: Any) -> None:
        while not self._stop.is_set():
            try:
                await work()
            except GaveUp as error:
                self.book.gave_up.append(str(error))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), seconds * self._rng.uniform(0.5, 1.5))

    # The voters ------------------------------------------------------------------

    async def sign_up(self) -> None:
        n = len(self.book.users)
        email = f"soak{n}-{uuid.uuid4().hex[:6]}@{self._namespace}.example.com"
        user = await self.api.sign_up(email, PASSWORD)
        preferences = {"updates": self._rng.random() < 0.5, "reminders": self._rng.random() < 0.5}
        if any(preferences.values()):
            answer = await self.api.call(
                "PATCH", "/me/preferences", headers=user.headers, json=preferences
            )
            self.book.note("preferences", answer)
            if answer.status == 200 and preferences["updates"]:
                user.updates_since = time.monotonic()
        self.book.users.append(user)
        for voting in self._open_votings():
            if self._rng.random() < 0.7:
                answer = await self.api.call(
                    "POST", f"/votings/{voting.id}/registration", headers=user.headers
                )
                self.book.note("register", answer)

    async def vote(self) -> None:
        votings = self._open_votings()
        if not votings or not self.book.users:
            return
        voting = self._rng.choice(votings)
        user = self._rng.choice(self.book.users)
        if (voting.id, user.id) in self.book.votes:
            # A second vote: refused, and never counted twice.
            answer = await self._cast(voting, user, new_key())
            self.book.note("second vote", answer)
            return
        answer = await self._cast(voting, user, new_key())
        self.book.note(f"{voting.kind} vote", answer)
        if answer.status in (201, 202):
            self.book.votes[(voting.id, user.id)] = answer

    async def _cast(self, voting: Voting, user: User, key: str) -> Answer:
        option = self._rng.choice(voting.options)
        return await self.api.call(
            "POST",
            f"/votings/{voting.id}/votes",
            headers=user.headers,
            json={"option_id": option},
            key=key,
        )

    # Credits ---------------------------------------------------------------------

    async def grant(self) -> None:
        if not self.book.users:
            return
        user = self._rng.choice(self.book.users)
        amount = self._rng.randint(1, 3)
        answer = await self.api.call(
            "POST",
            f"/admin/users/{user.id}/credits",
            headers=self.admin,
            json={"amount": amount, "reason": "soak"},
            key=new_key(),
        )
        self.book.note("grant", answer)
        if answer.status == 201:
            self.book.granted[user.id] += amount

    async def purchase(self) -> None:
        """Stripe reports a paid session; a fifth of the reports come twice, as Stripe's
        retries do, one of them under another event id."""
        if not self.book.users:
            return
        user = self._rng.choice(self.book.users)
        session = f"cs_soak_{uuid.uuid4().hex}"
        reports = 2 if self._rng.random() < 0.2 else 1
        accepted = False
        for _ in range(reports):
            answer = await self._report_paid(session, user)
            self.book.note("webhook", answer)
            accepted = accepted or answer.status == 200
        if accepted:
            self.book.purchased[user.id] += self._pack_credits

    async def _report_paid(self, session: str, user: User) -> Answer:
        event = paid_checkout(session, user.id, self._pack_id)
        body, headers = delivery(event, self._secret)
        return await self.api.call("POST", "/stripe/webhook", content=body, headers=headers)

    # The operator ----------------------------------------------------------------

    async def schedule_votings(self) -> None:
        """A free and a paid voting, each open for about forty seconds from a few seconds on."""
        for kind in ("free", "paid"):
            opens = datetime.now(UTC) + timedelta(seconds=2)
            closes = opens + timedelta(seconds=self._rng.uniform(30, 50))
            answer = await self.api.call(
                "POST",
                "/admin/votings",
                headers=self.admin,
                json={
                    "title": f"Soak {kind} {uuid.uuid4().hex[:6]}",
                    "description": "",
                    "options": ["Red", "Blue", "Green"],
                    "kind": kind,
                    "opens_at": opens.isoformat(),
                    "closes_at": closes.isoformat(),
                },
            )
            self.book.note("schedule", answer)
            if answer.status == 201:
                options = [option["id"] for option in answer.body["options"]]
                self.book.votings.append(Voting(answer.body["id"], kind, options, closes))

    async def send_update(self) -> None:
        title = f"Soak update {uuid.uuid4().hex[:8]}"
        answer = await self.api.call(
            "POST",
            "/admin/updates",
            headers=self.admin,
            json={"title": title, "body": "News from the operator"},
            key=new_key(),
        )
        self.book.note("update", answer)
        if answer.status == 202:
            self.book.updates[title] = time.monotonic()

    def _open_votings(self) -> list[Voting]:
        now = datetime.now(UTC)
        return [v for v in self.book.votings if v.closes_at - timedelta(seconds=3) > now]
