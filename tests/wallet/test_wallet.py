"""The wallet on a real broker and store: accounts open once; balances are answered."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from contracts import Envelope
from contracts.wallet import AccountOpened, GetBalance
from eventing.service import ServiceRuntime
from eventing.settings import RuntimeSettings
from services.wallet.domain import Account
from services.wallet.service import WalletService
from tests.support import eventually
from tests.support import registered as user_registered


def registered(user_id: str) -> Envelope:
    return Envelope.wrap(user_registered(user_id))


async def account_exists(wallet: WalletService, user_id: str) -> None:
    async def probe() -> bool:
        return bool(await wallet.store.read(Account.stream_name(user_id)))

    await eventually(probe)


async def test_an_account_opens_once_however_often_the_registration_arrives(
    settings: RuntimeSettings, gateway: ServiceRuntime
) -> None:
    async with AsyncExitStack() as stack:
        # Two replicas, so copies of one registration are handled concurrently.
        replicas = [WalletService(settings), WalletService(settings)]
        for replica in replicas:
            await replica.start()
            stack.push_async_callback(replica.stop)
        wallet = replicas[0]

        registration = registered("ada")
        await asyncio.gather(*(gateway.bus.publish_event(registration) for _ in range(8)))
        # The same registration again under another message id.
        again = registered("ada")
        await gateway.bus.publish_event(again)
        await gateway.bus.publish_event(registered("grace"))
        await account_exists(wallet, "ada")
        await account_exists(wallet, "grace")
        await asyncio.sleep(0.5)  # let every copy be handled

        events = await wallet.store.read(Account.stream_name("ada"))
        assert [e.message() for e in events] == [AccountOpened(user_id="ada")]
        # Opened because of one of the copies, in that registration's conversation.
        assert events[0].causation_id in {registration.message_id, again.message_id}
        assert events[0].correlation_id in {registration.correlation_id, again.correlation_id}

        async def all_published() -> bool:
            return await wallet.store.unpublished(10) == []

        await eventually(all_published)


async def test_balance_is_zero_for_a_new_account_and_for_an_unknown_user(
    settings: RuntimeSettings, gateway: ServiceRuntime
) -> None:
    wallet = WalletService(settings)
    await wallet.start()
    try:
        await gateway.bus.publish_event(registered("ada"))
        await account_exists(wallet, "ada")

        reply = await gateway.bus.request("wallet", Envelope.wrap(GetBalance(user_id="ada")))
        assert reply.error is None
        assert reply.result == {"user_id": "ada", "balance": 0}

        reply = await gateway.bus.request("wallet", Envelope.wrap(GetBalance(user_id="nobody")))
        assert reply.error is None
        assert reply.result == {"user_id": "nobody", "balance": 0}
    finally:
        await wallet.stop()
