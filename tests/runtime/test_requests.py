"""Request-reply on a real broker: requests of one group sent at once travel together."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from contracts import Envelope, ErrorCode, Message, Reply
from contracts.wallet import GetBalance
from eventing import bus, rpc
from eventing.bus import ServiceUnavailable
from eventing.service import ServiceRuntime
from eventing.settings import RuntimeSettings


class Wallet:
    """Stands for the wallet: answers GetBalance, slowly, and refuses one user."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.slow_may_answer = asyncio.Event()

    async def balance(self, query: Message, _: Envelope) -> Reply:
        assert isinstance(query, GetBalance)
        self.asked.append(query.user_id)
        await asyncio.sleep(0.01)
        if query.user_id == "refused":
            return Reply.fail(ErrorCode.NOT_FOUND, "no such account", user_id=query.user_id)
        if query.user_id == "broken":
            raise RuntimeError("the handler failed")
        if query.user_id == "slow":
            await self.slow_may_answer.wait()
        return Reply.ok({"user_id": query.user_id})


@pytest.fixture
async def wallet(settings: RuntimeSettings) -> AsyncIterator[Wallet]:
    wallet = Wallet()
    runtime = ServiceRuntime("wallet", settings)
    runtime.serve(commands={GetBalance: wallet.balance})
    await runtime.start()
    yield wallet
    await runtime.stop()


async def test_requests_of_one_group_at_once_each_get_their_own_answer_from_fewer_messages(
    gateway: ServiceRuntime, wallet: Wallet, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    parse_batch = bus._parse_batch

    async def counted(message: Any) -> list[Envelope] | None:
        envelopes = await parse_batch(message)
        batches.append(len(envelopes or []))
        return envelopes

    monkeypatch.setattr(bus, "_parse_batch", counted)
    users = [f"u{n}" for n in range(60)] + ["refused", "broken"]

    async def ask(user_id: str) -> Reply:
        query = Envelope.wrap(GetBalance(user_id=user_id))
        return await gateway.bus.request("wallet", query, 5.0, batch="balances")

    replies = await asyncio.gather(*(ask(user) for user in users))

    assert [r.result for r in replies[:60]] == [{"user_id": u} for u in users[:60]]
    refused, broken = replies[60:]
    assert refused.error is not None and refused.error.code == ErrorCode.NOT_FOUND
    assert broken.error is not None and broken.error.code == ErrorCode.INTERNAL_ERROR
    assert sorted(wallet.asked) == sorted(users)  # each once
    # Sent while the first was on its way, the rest went in batches.
    assert batches and sum(batches) >= len(users) - 1 and len(batches) < len(users) // 2


async def test_a_request_of_a_batch_is_answered_without_waiting_for_a_slow_one(
    gateway: ServiceRuntime, wallet: Wallet, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[list[str]] = []
    parse_batch = bus._parse_batch

    async def recorded(message: Any) -> list[Envelope] | None:
        envelopes = await parse_batch(message)
        batches.append([e.message().user_id for e in envelopes or []])  # type: ignore[attr-defined]
        return envelopes

    monkeypatch.setattr(bus, "_parse_batch", recorded)

    async def ask(user_id: str) -> Reply:
        query = Envelope.wrap(GetBalance(user_id=user_id))
        return await gateway.bus.request("wallet", query, 30.0, batch="balances")

    # Sent while the first is on its way, the slow one and the others travel together.
    first = asyncio.create_task(ask("first"))
    slow = asyncio.create_task(ask("slow"))
    others = [asyncio.create_task(ask(f"u{n}")) for n in range(20)]
    # The slow request is held until the others are answered: were the batch answered
    # as one message, they would wait for it, and this would time out.
    replies = await asyncio.gather(first, *others)
    assert [r.result for r in replies] == [
        {"user_id": u} for u in ["first"] + [f"u{n}" for n in range(20)]
    ]
    assert not slow.done()
    assert any("slow" in batch and len(batch) > 1 for batch in batches), batches
    wallet.slow_may_answer.set()
    assert (await slow).result == {"user_id": "slow"}


async def test_a_batch_from_a_sender_that_predates_parts_is_answered_in_one_message(
    gateway: ServiceRuntime, wallet: Wallet, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sender names a header the service does not know, as one that predates parts
    # names none: the service answers the whole batch in one array, in order, and the
    # sender still takes it.
    monkeypatch.setattr(rpc, "PARTS_HEADER", "x-not-a-header-services-know")
    answered: list[str | None] = []
    answer = rpc._SentBatch.answer

    def recorded(sent: Any, message_type: str | None, body: bytes) -> None:
        answered.append(message_type)
        answer(sent, message_type, body)

    monkeypatch.setattr(rpc._SentBatch, "answer", recorded)
    users = [f"u{n}" for n in range(30)]

    async def ask(user_id: str) -> Reply:
        query = Envelope.wrap(GetBalance(user_id=user_id))
        return await gateway.bus.request("wallet", query, 5.0, batch="balances")

    replies = await asyncio.gather(*(ask(user) for user in users))

    assert [r.result for r in replies] == [{"user_id": u} for u in users]
    assert answered and rpc.BATCH_PART_TYPE not in answered, answered


async def test_a_batch_nobody_answers_fails_each_request_as_unavailable(
    gateway: ServiceRuntime,
) -> None:
    # No notifier runs: its queue exists but nothing consumes it.
    async def ask(n: int) -> BaseException | Reply:
        query = Envelope.wrap(GetBalance(user_id=f"u{n}"))
        try:
            return await gateway.bus.request("notifier", query, 0.5, batch="nobody")
        except ServiceUnavailable as error:
            return error

    outcomes = await asyncio.gather(*(ask(n) for n in range(10)))
    assert all(isinstance(o, ServiceUnavailable) for o in outcomes), outcomes
