"""The wallet service: ``python -m services.wallet``."""

from __future__ import annotations

import asyncio

from eventing.service import run_until_signalled
from services.wallet.service import WalletService


def main() -> None:
    asyncio.run(run_until_signalled(WalletService()))


if __name__ == "__main__":
    main()
