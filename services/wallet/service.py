"""The wallet process: the service runtime with the wallet's handlers."""

from __future__ import annotations

from eventing.service import ServiceRuntime
from eventing.settings import RuntimeSettings
from services.wallet.handlers import WalletHandlers
from services.wallet.store import Accounts


class WalletService(ServiceRuntime):
    def __init__(self, settings: RuntimeSettings | None = None) -> None:
        super().__init__("wallet", settings)
        self.accounts = Accounts(self.store)
        handlers = WalletHandlers(self.accounts)
        self.serve(commands=handlers.commands(), events=handlers.events())
