"""The day's credit changes, for the archive."""

from __future__ import annotations

from contracts import Envelope, Reply
from contracts.wallet import ListCreditChanges
from eventing.handlers import HandlerMap
from services.wallet.credit_history import CreditHistory


class HistoryHandlers:
    def __init__(self, history: CreditHistory) -> None:
        self._history = history

    def commands(self) -> HandlerMap[Reply]:
        return HandlerMap[Reply]().on(ListCreditChanges, self.list_credit_changes)

    async def list_credit_changes(self, query: ListCreditChanges, _: Envelope) -> Reply:
        page = await self._history.page(query.since, query.until, query.after, query.limit)
        return Reply.ok(page.model_dump(mode="json"))
