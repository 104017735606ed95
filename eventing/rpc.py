"""Request-reply over RabbitMQ with many requests in flight on one channel.

Each process owns an exclusive reply queue; a request carries its own correlation id
and waits on a future that the reply queue's consumer resolves. (FastStream's built-in
``request`` holds a lock for the whole round trip, so one process could have only one
request in flight.)

Requests made at the same moment for the same group (the votes of one voting, say) can
travel as one message, a *batch*: a JSON array of envelopes, of AMQP type
:data:`BATCH_TYPE`, answered by a JSON array of replies in the same order. While one
batch is being published, the next one gathers, so batches grow with the load and a
lone request goes out at once, as itself.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from pydantic import TypeAdapter, ValidationError

from contracts import Envelope, Reply
from eventing.grouped import settle

BATCH_TYPE = "batch"
# Requests per batch: a batch is answered when its slowest request is.
MAX_BATCH = 200

BATCH_OF_ENVELOPES: TypeAdapter[list[Envelope]] = TypeAdapter(list[Envelope])
BATCH_OF_REPLIES: TypeAdapter[list[Reply]] = TypeAdapter(list[Reply])


class ReplyQueue:
    def __init__(self, name: str) -> None:
        self.name = name
        self._pending: dict[str, asyncio.Future[bytes]] = {}
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._batches: dict[tuple[str, float, str], _Batcher] = {}

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
        self, *, routing_key: str, envelope: Envelope, timeout: float, batch: str | None = None
    ) -> Reply:
        """Send ``envelope`` and wait for its reply; with ``batch``, together with the
        other requests of that group made at the same moment."""
        if batch is None:
            async with asyncio.timeout(timeout):
                future = await self._send(routing_key, [envelope], timeout)
                return Reply.model_validate_json(await future)
        key = (routing_key, timeout, batch)
        batcher = self._batches.get(key)
        if batcher is None:
            batcher = self._batches[key] = _Batcher(
                self, routing_key, timeout, on_idle=lambda: self._batches.pop(key, None)
            )
        request = _Request(envelope, asyncio.get_running_loop().create_future())
        batcher.add(request)
        async with asyncio.timeout(timeout):
            return await request.reply

    async def _send(
        self, routing_key: str, envelopes: list[Envelope], timeout: float
    ) -> asyncio.Future[bytes]:
        """Publish a request (one envelope as itself, several as a batch); the future of
        its reply's body, forgotten once done or cancelled (cancel it when giving up)."""
        if len(envelopes) == 1:
            body = envelopes[0].model_dump_json().encode()
            message_id, message_type = envelopes[0].message_id, envelopes[0].type
        else:
            body = BATCH_OF_ENVELOPES.dump_json(envelopes)
            message_id, message_type = uuid.uuid4().hex, BATCH_TYPE
        if self._channel is None:
            raise RuntimeError("the reply queue is not started")
        request_id = uuid.uuid4().hex
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        future.add_done_callback(lambda _: self._pending.pop(request_id, None))
        try:
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
        except BaseException:
            future.cancel()
            raise
        return future


@dataclass
class _Request:
    envelope: Envelope
    reply: asyncio.Future[Reply]


@dataclass
class _Batcher:
    """The requests of one group that wait to be sent, and the task sending them."""

    replies: ReplyQueue
    routing_key: str
    timeout: float
    on_idle: Callable[[], object]
    waiting: list[_Request] = field(default_factory=list)
    sender: asyncio.Task[None] | None = None

    def add(self, request: _Request) -> None:
        self.waiting.append(request)
        if self.sender is None or self.sender.done():
            self.sender = asyncio.create_task(self._send_all())

    async def _send_all(self) -> None:
        try:
            while self.waiting:
                batch = self.waiting[:MAX_BATCH]
                del self.waiting[:MAX_BATCH]
                try:
                    reply = await self.replies._send(
                        self.routing_key, [request.envelope for request in batch], self.timeout
                    )
                except Exception as error:  # noqa: BLE001 - every request of the batch gets it
                    for request in batch:
                        settle(request.reply, error)
                    continue
                reply.add_done_callback(functools.partial(_answer, batch))
                # Nobody awaits a batch's reply but its requests, each with this timeout.
                asyncio.get_running_loop().call_later(self.timeout, reply.cancel)
        finally:
            if not self.waiting:
                self.on_idle()


def _answer(batch: list[_Request], done: asyncio.Future[bytes]) -> None:
    if done.cancelled():
        for request in batch:
            settle(request.reply, TimeoutError())
        return
    try:
        body = done.result()
        if len(batch) == 1:
            replies = [Reply.model_validate_json(body)]
        else:
            replies = BATCH_OF_REPLIES.validate_json(body)
            if len(replies) != len(batch):
                raise ValueError(f"{len(replies)} replies to a batch of {len(batch)}")
    except (ValidationError, ValueError) as error:
        for request in batch:
            settle(request.reply, error)
        return
    for request, reply in zip(batch, replies, strict=True):
        settle(request.reply, reply)
