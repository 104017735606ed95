"""Request-reply over RabbitMQ with many requests in flight on one channel.

Each process owns an exclusive reply queue; a request carries its own correlation id
and waits on a future that the reply queue's consumer resolves. (FastStream's built-in
``request`` holds a lock for the whole round trip, so one process could have only one
request in flight.)
"""

from __future__ import annotations

import asyncio
import uuid

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue


class ReplyQueue:
    def __init__(self, name: str) -> None:
        self.name = name
        self._pending: dict[str, asyncio.Future[bytes]] = {}
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None

    async def start(self, channel: AbstractChannel) -> None:
        self._channel = channel
        # Exclusive and named by us, so a robust channel re-declares it after a reconnect.
        self._queue = await channel.declare_queue(self.name, exclusive=True, auto_delete=True)
        await self._queue.consume(self._on_reply, no_ack=True)

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._pending.get(message.correlation_id or "")
        if future is not None and not future.done():
            future.set_result(message.body)

    async def request(
        self, *, routing_key: str, body: bytes, message_id: str, message_type: str, timeout: float
    ) -> bytes:
        if self._channel is None:
            raise RuntimeError("the reply queue is not started")
        request_id = uuid.uuid4().hex
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            async with asyncio.timeout(timeout):
                await self._channel.default_exchange.publish(
                    aio_pika.Message(
                        body,
                        content_type="application/json",
                        message_id=message_id,
                        type=message_type,
                        correlation_id=request_id,
                        reply_to=self.name,
                        expiration=timeout,
                    ),
                    routing_key=routing_key,
                    mandatory=True,
                )
                return await future
        finally:
            self._pending.pop(request_id, None)
