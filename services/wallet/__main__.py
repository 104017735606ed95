"""The wallet service: ``python -m services.wallet``."""

from __future__ import annotations

import asyncio

from eventing.service import run_until_signalled
from services.wallet.service import WalletService


async def serve() -> None:
    # Built inside the event loop that runs it, with the broker and store clients it owns.
    await run_until_signalled(WalletService())


def main() -> None:
    asyncio.run(serve())


if __name__ == "__main__":
    main()
