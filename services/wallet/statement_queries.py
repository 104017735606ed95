"""The wallet's answers about what an account went through: the ledger, and receipts.

Both are read from the account's events as recorded; nothing here changes anything.
"""

from __future__ import annotations

from contracts import Envelope, ErrorCode, Reply
from contracts.wallet import GetLedger, GetReceipt, Receipt
from eventing.handlers import HandlerMap
from eventing.repository import Repository
from services.wallet.domain import Account, Checkout
from services.wallet.settings import WalletSettings
from services.wallet.statements import find_receipt, ledger_entry
from services.wallet.store import Accounts


class StatementQueries:
    def __init__(
        self, accounts: Accounts, checkouts: Repository[Checkout], settings: WalletSettings
    ) -> None:
        self._accounts = accounts
        self._checkouts = checkouts
        self._settings = settings

    def commands(self) -> HandlerMap[Reply]:
        return HandlerMap[Reply]().on(GetLedger, self.get_ledger).on(GetReceipt, self.get_receipt)

    async def get_ledger(self, query: GetLedger, _: Envelope) -> Reply:
        history = await self._accounts.history(query.user_id)
        account = Account(query.user_id)
        account.replay(history)
        pack_names = self._settings.pack_names()
        entries = []
        balance = 0
        for envelope in history:
            entry = ledger_entry(envelope.message(), envelope.occurred_at, pack_names)
            if entry is not None:
                balance += entry.amount
                entries.append(entry.view() | {"balance_after": balance})
        entries.reverse()
        return Reply.ok({**account.view(), "entries": entries})

    async def get_receipt(self, query: GetReceipt, _: Envelope) -> Reply:
        history = await self._accounts.history(query.user_id)
        receipt = find_receipt(
            ((envelope.message(), envelope.occurred_at) for envelope in history),
            query.receipt_id,
            self._settings.pack_names(),
        )
        if receipt is None:
            return Reply.fail(
                ErrorCode.NOT_FOUND,
                f"you have no receipt {query.receipt_id!r}",
                receipt_id=query.receipt_id,
            )
        if receipt.purchase.charged_cents is None:
            receipt = await self._with_price_asked(receipt)
        return Reply.ok(receipt.model_dump(mode="json"))

    async def _with_price_asked(self, receipt: Receipt) -> Receipt:
        """A purchase recorded before the wallet kept what Stripe charged: the price its
        checkout asked Stripe to charge, which is what Stripe charged (no discounts or
        taxes are configured on livevote's sessions)."""
        checkout = await self._checkouts.get(receipt.purchase.session_id)
        if checkout is None or checkout.started is None:
            return receipt
        started = checkout.started
        purchase = receipt.purchase.model_copy(
            update={"charged_cents": started.price_cents, "currency": started.currency}
        )
        refund = receipt.refund
        if refund is not None and refund.currency is None:
            refund = refund.model_copy(update={"currency": started.currency})
        return receipt.model_copy(update={"purchase": purchase, "refund": refund})
