"""Where accounts live: their event streams in the wallet's event store.

Balances are read by replaying the account's stream, which is short while an account
holds only its opening; a balance projection belongs here once credit events arrive.
"""

from __future__ import annotations

from eventing.repository import Repository
from eventing.store import EventStore
from services.wallet.domain import Account


class Accounts(Repository[Account]):
    def __init__(self, store: EventStore) -> None:
        super().__init__(store, Account)

    async def load(self, user_id: str) -> Account:
        """The user's account as it stands; a fresh, unopened one when it has no events."""
        return await self.get(user_id) or Account(user_id)
