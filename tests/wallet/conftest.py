"""Real wallet services on the test's namespace, talking to stripe-mock, with a clock the
test moves and a record of every request sent to Stripe."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import pytest
import stripe

from contracts import Envelope, Message, Reply
from eventing.clock import FixedClock
from eventing.service import ServiceRuntime
from eventing.settings import RuntimeSettings
from services.wallet.checkout import StripeCheckout
from services.wallet.domain import Account
from services.wallet.service import WalletService
from services.wallet.settings import WalletSettings
from tests.support import Handled, Rounds, eventually

START = datetime(2030, 5, 1, 18, 0, tzinfo=UTC)
STRIPE_MOCK = f"http://127.0.0.1:{os.environ.get('LIVEVOTE_STRIPE_MOCK_PORT', '12111')}"


@dataclass
class SentToStripe:
    method: str
    url: str
    headers: Mapping[str, str]
    form: dict[str, str]


class RecordingHTTPClient(stripe.HTTPXClient):
    """stripe-python's own async HTTP client, keeping what it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[SentToStripe] = []

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> Any:
        form = dict(parse_qsl(post_data)) if isinstance(post_data, str) else {}
        self.sent.append(SentToStripe(method, url, dict(headers), form))
        return await super().request_async(method, url, headers, post_data)


@dataclass
class Wallets:
    """Wallet replicas sharing one namespace, and a peer that talks to them as the
    gateway and the voting service would."""

    settings: WalletSettings
    clock: FixedClock
    peer: ServiceRuntime
    stack: AsyncExitStack
    replicas: list[WalletService] = field(default_factory=list)
    stripe_http: list[RecordingHTTPClient] = field(default_factory=list)
    # What the replicas have handled, and the sweeps of each replica's sweeper.
    handled: Handled = field(default_factory=Handled)
    sweeps: list[Rounds] = field(default_factory=list)

    @property
    def wallet(self) -> WalletService:
        return self.replicas[0]

    async def start(self, count: int = 1) -> list[WalletService]:
        started = []
        for _ in range(count):
            http = RecordingHTTPClient()
            replica = WalletService(
                self.settings, self.clock, StripeCheckout(self.settings, http_client=http)
            )
            self.handled.watch(replica)
            # The sweeper looks the method up on every sweep.
            self.sweeps.append(Rounds(replica.paid_votes, "release_expired"))
            await replica.start()
            self.stack.push_async_callback(replica.stop)
            self.replicas.append(replica)
            self.stripe_http.append(http)
            started.append(replica)
        return started

    async def ask(self, message: Message) -> Reply:
        return await self.peer.bus.request("wallet", Envelope.wrap(message))

    async def ok(self, message: Message) -> Any:
        reply = await self.ask(message)
        assert reply.error is None, reply.error
        return reply.result

    async def publish(self, message: Message | Envelope) -> Envelope:
        envelope = message if isinstance(message, Envelope) else Envelope.wrap(message)
        await self.peer.bus.publish_event(envelope)
        return envelope

    async def swept(self) -> None:
        """Until every replica's sweeper has finished a sweep begun now."""
        await asyncio.gather(*(sweeps.one_begun_now() for sweeps in self.sweeps))

    async def events(self, user_id: str) -> list[Message]:
        return [e.message() for e in await self.wallet.store.read(Account.stream_name(user_id))]

    async def types(self, user_id: str) -> list[str]:
        return [e.type for e in await self.wallet.store.read(Account.stream_name(user_id))]

    def until(
        self, user_id: str, check: Callable[[list[str]], bool]
    ) -> Callable[[], Awaitable[list[str]]]:
        """A probe for ``eventually``: the account's event types once ``check`` holds."""

        async def probe() -> list[str]:
            types = await self.types(user_id)
            return types if check(types) else []

        return probe

    async def settled(self) -> None:
        """Until every wallet event is published, and then a moment for copies in flight."""

        async def published() -> bool:
            return await self.wallet.store.unpublished(1) == []

        await eventually(published)


def wallet_settings(settings: RuntimeSettings, **overrides: Any) -> WalletSettings:
    values: dict[str, Any] = {
        "stripe_api_base": STRIPE_MOCK,
        "wallet_sweep_interval_seconds": 0.05,
    }
    return WalletSettings(**settings.model_dump(), **(values | overrides))


@pytest.fixture
async def wallets(settings: RuntimeSettings, gateway: ServiceRuntime) -> AsyncIterator[Wallets]:
    """One wallet started; ``await wallets.start()`` adds replicas."""
    async with AsyncExitStack() as stack:
        wallets = Wallets(wallet_settings(settings), FixedClock(START), gateway, stack)
        await wallets.start()
        yield wallets
