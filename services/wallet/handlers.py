"""The wallet's message handlers: accounts open on registration; balances on request."""

from __future__ import annotations

from collections.abc import Mapping

from contracts import Envelope, Message, Reply
from contracts.gateway import UserRegistered
from contracts.wallet import GetBalance
from eventing.bus import CommandHandler, EventHandler
from eventing.logs import get_logger
from eventing.store import ConcurrencyConflict
from services.wallet.store import Accounts

log = get_logger(__name__)

# Appends that lose a race reload and decide again; this many losses in a row is not a
# race any more, so the message goes back to the broker.
MAX_CONFLICTS = 20


class WalletHandlers:
    def __init__(self, accounts: Accounts) -> None:
        self._accounts = accounts

    def commands(self) -> Mapping[type[Message], CommandHandler]:
        return {GetBalance: self.get_balance}

    def events(self) -> Mapping[type[Message], EventHandler]:
        return {UserRegistered: self.user_registered}

    async def user_registered(self, event: Message, envelope: Envelope) -> None:
        assert isinstance(event, UserRegistered)
        # The account's stream is the dedupe: a redelivery finds the account open.
        for _ in range(MAX_CONFLICTS):
            account = await self._accounts.load(event.user_id)
            account.open()
            if not account.pending:
                return
            try:
                await self._accounts.save(account, cause=envelope)
            except ConcurrencyConflict:
                continue
            log.info("account opened", user_id=event.user_id)
            return
        raise ConcurrencyConflict(account.stream, account.version)

    async def get_balance(self, query: Message, _: Envelope) -> Reply:
        assert isinstance(query, GetBalance)
        # A user the wallet has not heard of (yet) simply has no credits.
        account = await self._accounts.load(query.user_id)
        return Reply.ok({"user_id": query.user_id, "balance": account.balance})
