"""Dead letters: look at what the consumers gave up on, and send it back once fixed.

Every queue dead-letters into one queue, ``<namespace>.dead-letters`` (:mod:`eventing.bus`).
RabbitMQ stamps each dead letter with an ``x-death`` header: the queue it died in, why
(``rejected``: it could not be parsed or was refused; ``delivery_limit``: its handler
failed every attempt; ``expired``, ``maxlen``), when, and how often.

- :meth:`DeadLetters.peek` reads up to ``limit`` dead letters without taking them: they
  are fetched unacknowledged and go back to the queue when the channel closes.
- :meth:`DeadLetters.find` is one of them whole (body and headers), by message id.
- :meth:`DeadLetters.replay` moves dead letters (all, or those with the given ids) back
  to the queue each died in, a message at a time: republished as it was (body, type, id,
  headers but ``x-death``) with a publisher confirm, and only then removed from the dead
  letters. A crash in between leaves a copy in both, which the consumers'
  de-duplication by message id absorbs; a message is never lost. One whose queue is
  gone, or that was not asked for, stays where it is: held unacknowledged until the end,
  so that it is neither fetched twice nor moved ahead of the others.

The admin API and the operators' command line (:mod:`eventing.dead_letters_cli`) share
this module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from datetime import datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from pydantic import BaseModel

from eventing.settings import RuntimeSettings

# What a listing shows of a message body.
BODY_PREVIEW = 500


class DeadLetter(BaseModel):
    id: str | None
    type: str | None
    correlation_id: str | None = None
    queue: str | None
    reason: str | None
    died_at: datetime | None
    deaths: int
    # The first BODY_PREVIEW bytes in a listing; all of it from find().
    body: str


class Replayed(BaseModel):
    replayed: int
    kept: int


class DeadLetters:
    def __init__(self, settings: RuntimeSettings) -> None:
        self._url = settings.rabbitmq_url
        self._prefix = f"{settings.namespace}."
        self.queue = f"{self._prefix}dead-letters"

    async def count(self) -> int:
        async with await aio_pika.connect(self._url) as connection:
            channel = await connection.channel()
            return await self._depth(channel)

    async def listing(self, limit: int) -> tuple[list[DeadLetter], int]:
        """The oldest ``limit`` dead letters, left in place, and how many there are:
        counted first, since the ones looked at go back to the queue only some moments
        after the channel closes, and a count taken then can miss them."""
        async with await aio_pika.connect(self._url) as connection:
            channel = await connection.channel()
            total = await self._depth(channel)
            # Closing the channel hands every unacknowledged message back to the queue.
            letters = [describe(m, self._prefix) async for m in self._fetch(channel, limit)]
            return letters, total

    async def find(self, message_id: str) -> DeadLetter | None:
        """The dead letter with this message id, body whole; None when there is none."""
        async with await aio_pika.connect(self._url) as connection:
            channel = await connection.channel()
            async for message in self._fetch(channel):
                if message.message_id == message_id:
                    return describe(message, self._prefix, preview=None)
        return None

    async def replay(self, ids: Collection[str] | None = None) -> Replayed:
        """Every dead letter there is now (or those whose message id is in ``ids``), back
        to the queue it died in; ``kept`` counts those asked for whose queue is gone."""
        replayed = kept = 0
        async with await aio_pika.connect(self._url) as connection:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            held: list[AbstractIncomingMessage] = []
            async for message in self._fetch(channel):
                if ids is not None and message.message_id not in ids:
                    held.append(message)
                elif await self._send_back(channel, message):
                    await message.ack()
                    replayed += 1
                else:
                    held.append(message)
                    kept += 1
            for message in held:
                await message.nack(requeue=True)
        return Replayed(replayed=replayed, kept=kept)

    async def _fetch(
        self, channel: AbstractChannel, limit: int | None = None
    ) -> AsyncIterator[AbstractIncomingMessage]:
        """The oldest dead letters (``limit`` of them, else as many as there are now),
        each fetched unacknowledged: none comes twice while the channel is open."""
        queue = await channel.get_queue(self.queue, ensure=False)
        for _ in range(await self._depth(channel) if limit is None else limit):
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                return
            yield message

    async def _depth(self, channel: AbstractChannel) -> int:
        declared = await channel.declare_queue(self.queue, passive=True)
        return int(declared.declaration_result.message_count or 0)

    async def _send_back(self, channel: AbstractChannel, message: AbstractIncomingMessage) -> bool:
        death = latest_death(message)
        target = death.get("queue") if death else None
        if not isinstance(target, str):
            return False
        headers = {k: v for k, v in (message.headers or {}).items() if not k.startswith("x-")}
        copy = aio_pika.Message(
            message.body,
            headers=headers,
            content_type=message.content_type,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            type=message.type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        try:
            # Mandatory: a queue that is gone returns the message instead of dropping it.
            await channel.default_exchange.publish(copy, routing_key=target, mandatory=True)
        except aio_pika.exceptions.DeliveryError:
            return False
        return True


def latest_death(message: AbstractIncomingMessage) -> dict[str, Any] | None:
    """The ``x-death`` entry of the queue the message last died in."""
    deaths = (message.headers or {}).get("x-death")
    if not isinstance(deaths, list) or not deaths:
        return None
    # RabbitMQ keeps the most recent death first.
    death = deaths[0]
    return dict(death) if isinstance(death, dict) else None


def describe(
    message: AbstractIncomingMessage, namespace_prefix: str = "", preview: int | None = BODY_PREVIEW
) -> DeadLetter:
    """The dead letter as operators see it (the body's first ``preview`` bytes, or all of
    it); queues named without the namespace, as the health page names them."""
    death = latest_death(message) or {}
    queue = _text(death.get("queue"))
    died_at = death.get("time")
    count = death.get("count")
    return DeadLetter(
        id=message.message_id,
        type=message.type,
        correlation_id=message.correlation_id,
        queue=queue.removeprefix(namespace_prefix) if queue else None,
        reason=_text(death.get("reason")),
        died_at=died_at if isinstance(died_at, datetime) else None,
        deaths=int(count) if isinstance(count, int) else 1,
        body=message.body[:preview].decode("utf-8", errors="replace"),
    )


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode()
    return value if isinstance(value, str) else None
