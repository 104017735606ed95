"""The soak's accounting: the system's state at the end, against the load's book.

After the load and the chaos stop, the system is given time to settle (no vote still
pending, every queue drained), then:

- **votes**: every vote answered 201 is counted; each voting's total is the number of its
  voters whose vote is confirmed (one per user, however often they tried);
- **credits**: every balance is grants + purchases - paid votes (and the ledger's lines
  add up to it), none is negative, nothing is still held;
- **inbox**: at most one entry per rule (one reminder or alert per voting, one entry per
  update), every update reached those who opted in well before it was sent and nobody
  who never did;
- **dead letters**: each listed with its type, queue and reason. A request that expired
  in its queue (its service was down or frozen longer than the requester waits) is
  explained: the client was answered 503 and retried. Any other is something lost.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from eventing.gather import bounded
from scripts.soak.client import Api, GaveUp, User
from scripts.soak.load import Book

# An update must reach a user who opted in this long before it was sent; the notifier
# learns of preferences through events, which a crash or a broker restart delays.
UPDATE_GRACE_SECONDS = 30.0
SETTLE_SECONDS = 300.0
IDLE_QUEUES = ("dead-letters", "unrouted")
# Reads in flight while checking the books.
READERS = 8


@dataclass
class Accounts:
    problems: list[str] = field(default_factory=list)
    facts: dict[str, int] = field(default_factory=dict)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return not self.problems

    def expect(self, holds: bool, problem: str) -> None:
        if not holds:
            self.problems.append(problem)


async def settle(api: Api, admin: dict[str, str], book: Book) -> float:
    """Until no vote is pending and every queue is drained; the seconds it took."""
    started = time.monotonic()
    deadline = started + SETTLE_SECONDS
    users = {user.id: user for user in book.users}
    pending = list(book.votes)
    while pending and time.monotonic() < deadline:
        states = await bounded((_vote_state(api, users[u], v) for v, u in pending), READERS)
        pending = [key for key, state in zip(pending, states, strict=True) if state == "pending"]
        if pending:
            await asyncio.sleep(1)
    drained = 0
    while drained < 3 and time.monotonic() < deadline:
        health = await api.read("/admin/health", admin)
        busy = [q for q in health["queues"] if q["messages"] and q["name"] not in IDLE_QUEUES]
        drained = 0 if busy else drained + 1
        await asyncio.sleep(1)
    return time.monotonic() - started


async def _vote_state(api: Api, user: User, voting_id: str) -> str:
    answer = await api.call("GET", f"/votings/{voting_id}/votes/me", headers=user.headers)
    return str(answer.body["status"]) if answer.status == 200 else "none"


async def account(api: Api, admin: dict[str, str], book: Book) -> Accounts:
    accounts = Accounts()
    confirmed_paid = await _votes(api, admin, book, accounts)
    try:
        await _credits(api, book, confirmed_paid, accounts)
    except GaveUp as error:
        accounts.problems.append(f"credits not checked: {error}")
    try:
        await _inboxes(api, book, accounts)
    except GaveUp as error:
        # Each book on its own: one the system cannot show is a problem, and the
        # others are still checked.
        accounts.problems.append(f"inboxes not checked: {error}")
    letters = await api.read("/admin/dead-letters?limit=500", admin)
    accounts.dead_letters = list(letters["items"])
    unexplained = [d for d in accounts.dead_letters if d["reason"] != "expired"]
    accounts.facts["dead letters"] = int(letters["total"])
    accounts.facts["dead letters: expired requests"] = len(accounts.dead_letters) - len(unexplained)
    accounts.expect(
        letters["total"] == len(accounts.dead_letters),
        f"{letters['total']} dead letters, more than could be listed",
    )
    accounts.expect(not unexplained, f"{len(unexplained)} dead letter(s) not expired requests")
    return accounts


async def _votes(api: Api, admin: dict[str, str], book: Book, accounts: Accounts) -> Counter[str]:
    users = {user.id: user for user in book.users}
    keys = list(book.votes)
    states = await bounded((_vote_state(api, users[u], v) for v, u in keys), READERS)
    confirmed: Counter[str] = Counter()
    confirmed_paid: Counter[str] = Counter()
    kinds = {voting.id: voting.kind for voting in book.votings}
    for (voting_id, user_id), state in zip(keys, states, strict=True):
        answer = book.votes[(voting_id, user_id)]
        accounts.expect(state != "pending", f"vote of {user_id} in {voting_id} still pending")
        if answer.status == 201 and answer.body.get("status") == "confirmed":
            accounts.expect(
                state == "confirmed", f"vote of {user_id} in {voting_id} answered 201, now {state}"
            )
        if state == "confirmed":
            confirmed[voting_id] += 1
            if kinds[voting_id] == "paid":
                confirmed_paid[user_id] += 1
    for voting in book.votings:
        results = await api.read(f"/votings/{voting.id}/results", admin)
        accounts.expect(
            results["total"] == confirmed[voting.id],
            f"voting {voting.id} counts {results['total']}, {confirmed[voting.id]} confirmed",
        )
    accounts.facts["votes confirmed"] = sum(confirmed.values())
    accounts.facts["paid votes confirmed"] = sum(confirmed_paid.values())
    accounts.facts["votings"] = len(book.votings)
    return confirmed_paid


async def _credits(api: Api, book: Book, confirmed_paid: Counter[str], accounts: Accounts) -> None:
    async def one(user: User) -> None:
        me = await api.read("/me", user.headers)
        ledger = await api.read("/me/credits/ledger", user.headers)
        expected = book.granted[user.id] + book.purchased[user.id] - confirmed_paid[user.id]
        lines = sum(entry["amount"] for entry in ledger["entries"])
        debits = sum(1 for entry in ledger["entries"] if entry["kind"] == "vote")
        accounts.expect(
            ledger["balance"] == expected,
            f"{user.id}: balance {ledger['balance']}, expected {expected} (granted "
            f"{book.granted[user.id]}, bought {book.purchased[user.id]}, paid votes "
            f"{confirmed_paid[user.id]})",
        )
        accounts.expect(lines == ledger["balance"], f"{user.id}: ledger lines add up to {lines}")
        accounts.expect(
            debits == confirmed_paid[user.id], f"{user.id}: {debits} debits for paid votes"
        )
        accounts.expect(me["credits"] >= 0, f"{user.id}: negative credits {me['credits']}")
        accounts.expect(me["credits_reserved"] == 0, f"{user.id}: credits still held")

    await bounded((one(user) for user in book.users), READERS)
    accounts.facts["credits granted"] = sum(book.granted.values())
    accounts.facts["credits bought"] = sum(book.purchased.values())


async def _inbox(api: Api, user: User) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = "?limit=100" + (f"&cursor={cursor}" if cursor else "")
        page = await api.read(f"/me/notifications{query}", user.headers)
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def _inboxes(api: Api, book: Book, accounts: Accounts) -> None:
    kinds: Counter[str] = Counter()

    async def one(user: User) -> None:
        items = await _inbox(api, user)
        rules = Counter(
            (item["kind"], item["title"] if item["kind"] == "update" else item["voting_id"])
            for item in items
        )
        kinds.update(item["kind"] for item in items)
        for rule, count in rules.items():
            accounts.expect(count == 1, f"{user.id}: {count} entries for {rule}")
        updates = {title for kind, title in rules if kind == "update"}
        for title, sent in book.updates.items():
            if user.updates_since is None:
                accounts.expect(title not in updates, f"{user.id} got {title!r} without consent")
            elif user.updates_since < sent - UPDATE_GRACE_SECONDS:
                accounts.expect(title in updates, f"{user.id} opted in, never got {title!r}")

    await bounded((one(user) for user in book.users), READERS)
    for kind, count in sorted(kinds.items()):
        accounts.facts[f"inbox {kind}s"] = count
