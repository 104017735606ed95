"""The wallet on a real broker and store: accounts open once; balances, grants and the
ledger as users and operators see them."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from contracts import Envelope, ErrorCode
from contracts.wallet import AccountOpened, CreditsGranted, GetBalance, GetLedger, GrantCredits
from eventing.service import ServiceRuntime
from eventing.settings import RuntimeSettings
from services.wallet.domain import Account
from services.wallet.service import WalletService
from tests.support import Handled, eventually
from tests.support import registered as user_registered
from tests.wallet.conftest import Wallets, wallet_settings


def registered(user_id: str) -> Envelope:
    return Envelope.wrap(user_registered(user_id))


async def account_exists(wallet: WalletService, user_id: str) -> None:
    async def probe() -> bool:
        return bool(await wallet.store.read(Account.stream_name(user_id)))

    await eventually(probe)


def grant(user_id: str, amount: int, reason: str = "goodwill") -> GrantCredits:
    return GrantCredits(user_id=user_id, amount=amount, reason=reason, granted_by="admin-1")


async def test_an_account_opens_once_however_often_the_registration_arrives(
    settings: RuntimeSettings, gateway: ServiceRuntime
) -> None:
    async with AsyncExitStack() as stack:
        # Two replicas, so copies of one registration are handled concurrently.
        replicas = [WalletService(wallet_settings(settings)) for _ in range(2)]
        handled = Handled(*replicas)
        for replica in replicas:
            await replica.start()
            stack.push_async_callback(replica.stop)
        wallet = replicas[0]

        registration = registered("ada")
        await asyncio.gather(*(gateway.bus.publish_event(registration) for _ in range(8)))
        # The same registration again under another message id.
        again = registered("ada")
        await gateway.bus.publish_event(again)
        grace = registered("grace")
        await gateway.bus.publish_event(grace)
        await handled.all(*[registration] * 8, again, grace)

        events = await wallet.store.read(Account.stream_name("ada"))
        assert [e.message() for e in events] == [AccountOpened(user_id="ada")]
        # Opened because of one of the copies, in that registration's conversation.
        assert events[0].causation_id in {registration.message_id, again.message_id}
        assert events[0].correlation_id in {registration.correlation_id, again.correlation_id}

        async def all_published() -> bool:
            return await wallet.store.unpublished(10) == []

        await eventually(all_published)


async def test_balance_is_zero_for_a_new_account_and_for_an_unknown_user(
    wallets: Wallets,
) -> None:
    await wallets.publish(registered("ada"))
    await account_exists(wallets.wallet, "ada")
    empty = {"balance": 0, "reserved": 0, "available": 0}
    assert await wallets.ok(GetBalance(user_id="ada")) == {"user_id": "ada", **empty}
    assert await wallets.ok(GetBalance(user_id="nobody")) == {"user_id": "nobody", **empty}


async def test_a_grant_shows_in_the_balance_and_the_ledger(wallets: Wallets) -> None:
    await wallets.publish(registered("ada"))
    await account_exists(wallets.wallet, "ada")

    granted = await wallets.ok(grant("ada", 3, "welcome gift"))
    assert granted == {"user_id": "ada", "balance": 3, "reserved": 0, "available": 3}
    await wallets.ok(grant("ada", 2, "support ticket 42"))
    assert (await wallets.ok(GetBalance(user_id="ada")))["balance"] == 5

    ledger = await wallets.ok(GetLedger(user_id="ada"))
    assert ledger["balance"] == 5
    entries = ledger["entries"]
    # Newest first, each with its reason and who granted it.
    assert [(e["kind"], e["amount"], e["reason"], e["reference"]) for e in entries] == [
        ("grant", 2, "support ticket 42", "admin-1"),
        ("grant", 3, "welcome gift", "admin-1"),
    ]
    assert [e["balance_after"] for e in entries] == [5, 3]
    assert entries[0]["at"] >= entries[1]["at"]

    assert await wallets.ok(GetLedger(user_id="nobody")) == {
        "user_id": "nobody",
        "balance": 0,
        "reserved": 0,
        "available": 0,
        "entries": [],
    }


async def test_a_grant_opens_an_account_the_wallet_has_not_heard_of(wallets: Wallets) -> None:
    await wallets.ok(grant("early", 4))
    commits = await wallets.wallet.store.read(Account.stream_name("early"))
    # One append: opened and granted together.
    assert [e.version for e in commits] == [1, 2]
    assert [e.message() for e in commits] == [
        AccountOpened(user_id="early"),
        CreditsGranted(user_id="early", amount=4, reason="goodwill", granted_by="admin-1"),
    ]
    # The registration arriving later finds the account open.
    await wallets.handled.all(await wallets.publish(registered("early")))
    assert await wallets.types("early") == ["wallet.AccountOpened", "wallet.CreditsGranted"]


async def test_a_grant_command_delivered_twice_grants_once(wallets: Wallets) -> None:
    command = Envelope.wrap(grant("ada", 3))
    first = await wallets.peer.bus.request("wallet", command)
    again = await wallets.peer.bus.request("wallet", command)
    assert isinstance(first.result, dict) and first.result["balance"] == 3
    assert again.result == first.result
    # A new command with the same content is a new grant.
    assert (await wallets.ok(grant("ada", 3)))["balance"] == 6


async def test_a_grant_needs_a_reason_and_a_positive_amount(wallets: Wallets) -> None:
    blank = await wallets.ask(grant("ada", 3, reason="   "))
    assert blank.error is not None and blank.error.code == ErrorCode.VALIDATION_ERROR

    zero = Envelope.wrap(grant("ada", 1)).model_copy(
        update={"payload": {**grant("ada", 1).model_dump(), "amount": 0}}
    )
    reply = await wallets.peer.bus.request("wallet", zero)
    assert reply.error is not None and reply.error.code == ErrorCode.VALIDATION_ERROR
    assert await wallets.types("ada") == []
