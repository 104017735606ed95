"""Where the wallet keeps things: event streams, and read models rebuilt from them.

Accounts, checkouts and payments are event streams in the wallet's event store. Two
read models help find things the streams are not keyed by:

- ``open_reservations``: reservations still held, by expiry, for the sweeper that
  releases the ones that outlive their timeout. It only points at candidates: the
  account decides (an append at its version), so a stale row costs a look, not a
  wrong release.
- ``payment_intents``: which Checkout Session (and user) a Stripe payment intent paid,
  for refunds, which Stripe reports by charge and payment intent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts import Envelope
from contracts.wallet import CreditsDebited, CreditsReleased, CreditsReserved
from eventing.grouped import LINGER_SECONDS, GroupedInserts, GroupedWrites
from eventing.repository import Repository, T
from eventing.store import EventStore
from services.wallet.domain import Account, PaymentReceived


class Accounts(Repository[Account]):
    def __init__(self, store: EventStore) -> None:
        super().__init__(store, Account)

    async def decide(
        self,
        user_id: str,
        decide: Callable[[Account], T],
        cause: Envelope | None = None,
        correlation_id: str | None = None,
    ) -> tuple[Account, T]:
        """Decide on the account as it stands and append what that produced; on a lost
        race, reload and decide again. The account after the change, and the decision."""
        changed = await self.change(user_id, decide, cause=cause, correlation_id=correlation_id)
        assert changed is not None  # an account is created on first use
        account, outcome, _ = changed
        return account, outcome

    async def history(self, user_id: str) -> list[Envelope]:
        """The account's events in order, with when and why each happened."""
        return await self._store.read(Account.stream_name(user_id))


@dataclass(frozen=True)
class OpenReservation:
    reservation_id: str
    user_id: str
    expires_at: datetime
    # The conversation of the vote that asked for it, continued by its release.
    correlation_id: str | None


async def _put(rows: GroupedInserts, key: str, document: dict[str, Any]) -> None:
    """Write ``document`` under ``key``: inserted along with concurrent writes when the key
    is new (nearly always), else replaced."""
    try:
        await rows.insert({"_id": key, **document})
    except DuplicateKeyError:
        await rows.collection.replace_one({"_id": key}, document)


# The reservations held now, one row each (see WalletReadModels.hold).
OPEN_RESERVATIONS_COLLECTION = "open_reservations"


class WalletReadModels:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._open = db[OPEN_RESERVATIONS_COLLECTION]
        self._open_inserts = GroupedInserts(self._open)
        self._open_deletes = GroupedWrites(self._open, linger=LINGER_SECONDS)
        self._intents = db["payment_intents"]
        self._intent_inserts = GroupedInserts(self._intents)

    async def ensure_indexes(self) -> None:
        await self._open.create_index([("expires_at", ASCENDING)], name="expiry")

    # Open reservations ----------------------------------------------------------------

    async def hold(
        self, reservation_id: str, user_id: str, expires_at: datetime, correlation_id: str | None
    ) -> None:
        await _put(
            self._open_inserts,
            reservation_id,
            {"user_id": user_id, "expires_at": expires_at, "correlation_id": correlation_id},
        )

    async def track(
        self, account: Account, reservation_id: str, correlation_id: str | None
    ) -> None:
        """Make the row match the account: present while the reservation is held."""
        reservation = account.open_reservation(reservation_id)
        if reservation is None or reservation.expires_at is None:
            await self.forget(reservation_id)
        else:
            await self.hold(reservation_id, account.user_id, reservation.expires_at, correlation_id)

    async def forget(self, reservation_id: str) -> None:
        """Drop the row, with the others dropped within ``LINGER_SECONDS``, without
        waiting: a row left behind (a crash first) is of a reservation that is not open,
        which the expiry sweep finds settled and drops."""
        self._open_deletes.delete_later([reservation_id])

    async def expired(self, now: datetime, limit: int) -> list[OpenReservation]:
        """Reservations held past their expiry, oldest first."""
        cursor = self._open.find(
            {"expires_at": {"$lte": now}}, sort=[("expires_at", ASCENDING)], limit=limit
        )
        return [
            OpenReservation(
                reservation_id=row["_id"],
                user_id=row["user_id"],
                expires_at=row["expires_at"],
                correlation_id=row.get("correlation_id"),
            )
            async for row in cursor
        ]

    async def open_count(self) -> int:
        return await self._open.count_documents({})

    # Payment intents ------------------------------------------------------------------

    async def link_payment_intent(self, payment_intent: str, session_id: str, user_id: str) -> None:
        await _put(
            self._intent_inserts, payment_intent, {"session_id": session_id, "user_id": user_id}
        )

    async def paid_session(self, payment_intent: str) -> tuple[str, str] | None:
        """The (session id, user id) the payment intent paid, if the wallet credited it."""
        row = await self._intents.find_one({"_id": payment_intent})
        return None if row is None else (row["session_id"], row["user_id"])

    # Rebuild --------------------------------------------------------------------------

    async def rebuild(self, store: EventStore) -> int:
        """Replace both read models by a replay of the store; returns the events read."""
        held: dict[str, dict[str, Any]] = {}
        intents: dict[str, dict[str, Any]] = {}
        events = 0
        async for commit in store.replay():
            for envelope in commit.events:
                events += 1
                message = envelope.message()
                match message:
                    case CreditsReserved():
                        held[message.reservation_id] = {
                            "_id": message.reservation_id,
                            "user_id": message.user_id,
                            "expires_at": message.expires_at,
                            "correlation_id": envelope.correlation_id,
                        }
                    case CreditsDebited() | CreditsReleased():
                        held.pop(message.reservation_id, None)
                    case PaymentReceived(payment_intent=str() as payment_intent):
                        intents.setdefault(
                            payment_intent,
                            {
                                "_id": payment_intent,
                                "session_id": message.session_id,
                                "user_id": message.user_id,
                            },
                        )
        await self._open.delete_many({})
        if held:
            await self._open.insert_many(list(held.values()))
        await self._intents.delete_many({})
        if intents:
            await self._intents.insert_many(list(intents.values()))
        return events
