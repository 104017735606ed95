"""The wallet process: the service runtime with the wallet's handlers, and the sweeper
that releases reservations which outlived their timeout, started and stopped together."""

from __future__ import annotations

import asyncio
import contextlib

from eventing.clock import Clock, SystemClock
from eventing.logs import get_logger
from eventing.metrics import OPEN_RESERVATIONS
from eventing.repository import Repository
from eventing.service import ServiceRuntime
from services.wallet.checkout import StripeCheckout
from services.wallet.credit_history import CreditHistory
from services.wallet.domain import Checkout, Payment
from services.wallet.handlers import WalletHandlers
from services.wallet.history_handlers import HistoryHandlers
from services.wallet.saga import PaidVotes
from services.wallet.settings import WalletSettings
from services.wallet.statement_queries import StatementQueries
from services.wallet.store import Accounts, WalletReadModels

log = get_logger(__name__)


class WalletService(ServiceRuntime):
    def __init__(
        self,
        settings: WalletSettings | None = None,
        clock: Clock | None = None,
        stripe: StripeCheckout | None = None,
    ) -> None:
        settings = settings or WalletSettings()
        clock = clock or SystemClock()
        super().__init__("wallet", settings)
        self.wallet_settings = settings
        self.accounts = Accounts(self.store)
        self.read_models = WalletReadModels(self.db)
        self.stripe = stripe or StripeCheckout(settings)
        checkouts = Repository(self.store, Checkout)
        self.handlers = WalletHandlers(
            self.accounts,
            checkouts,
            Repository(self.store, Payment),
            self.read_models,
            self.stripe,
            settings,
            clock,
        )
        self.paid_votes = PaidVotes(self.accounts, self.read_models, settings, clock)
        statements = StatementQueries(self.accounts, checkouts, settings)
        history = HistoryHandlers(CreditHistory(self.store))
        self.serve(
            commands=statements.commands()
            .merge(self.handlers.commands())
            .merge(history.commands()),
            events=self.handlers.events().merge(self.paid_votes.events()),
        )
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.read_models.ensure_indexes()
        await super().start()
        self._sweeper = asyncio.create_task(self._sweep(), name="wallet-reservation-sweeper")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await super().stop()
        await self.stripe.close()

    async def _sweep(self) -> None:
        interval = self.wallet_settings.wallet_sweep_interval_seconds
        while True:
            try:
                await self.paid_votes.release_expired()
                OPEN_RESERVATIONS.set(await self.read_models.open_count())
            except Exception as error:  # noqa: BLE001 - store down: the next sweep retries
                log.warning("reservation sweep failed", error=repr(error))
            await asyncio.sleep(interval)

    async def rebuild_projections(self) -> int:
        """Replace the read models by a replay of the event store (service stopped)."""
        await self.read_models.ensure_indexes()
        return await self.read_models.rebuild(self.store)
