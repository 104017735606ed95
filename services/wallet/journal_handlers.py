"""The credit journal's handlers: the wallet's own credit events, back from the broker,
recorded in time order; and the day's changes for the archive."""

from __future__ import annotations

from contracts import Envelope, Message, Reply
from contracts.wallet import ListCreditChanges
from eventing.handlers import HandlerMap
from services.wallet.credit_changes import CREDIT_EVENTS, credit_change
from services.wallet.journal import CreditJournal


class JournalHandlers:
    def __init__(self, journal: CreditJournal) -> None:
        self._journal = journal

    def commands(self) -> HandlerMap[Reply]:
        return HandlerMap[Reply]().on(ListCreditChanges, self.list_credit_changes)

    def events(self) -> HandlerMap[None]:
        handlers = HandlerMap[None]()
        for event in CREDIT_EVENTS:
            handlers.on(event, self.credit_changed)
        return handlers

    async def credit_changed(self, event: Message, envelope: Envelope) -> None:
        change = credit_change(event, envelope.message_id, envelope.occurred_at)
        if change is not None:
            await self._journal.record(change)

    async def list_credit_changes(self, query: ListCreditChanges, _: Envelope) -> Reply:
        page = await self._journal.page(query.since, query.until, query.after, query.limit)
        return Reply.ok(page.model_dump(mode="json"))
