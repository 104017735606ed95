"""Request-reply over RabbitMQ with many requests in flight on one channel.

Each process owns an exclusive reply queue; a request carries its own correlation id
and waits on a future that the reply queue's consumer resolves. (FastStream's built-in
``request`` holds a lock for the whole round trip, so one process could have only one
request in flight.)

Requests made at the same moment for the same group (the votes sent to the voting
service, say) can travel as one message, a *batch*: a JSON array of envelopes, of AMQP
type :data:`BATCH_TYPE`. While one batch is being published, the next one gathers, so
batches grow with the load and a lone request goes out at once, as itself.

A batch is answered in parts: the requests decided at the same moment in one message of
type :data:`BATCH_PART_TYPE`, ``[index, reply]`` pairs, so that a request decided at once
(a free vote) does not wait for a slow one of the same batch (a paid vote waiting for its
credit). A batch without the :data:`PARTS_HEADER` (from a sender that predates parts) is
answered by one JSON array of replies in the order of its envelopes, which a sender also
still takes from a service that predates parts.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from pydantic import TypeAdapter, ValidationError

from contracts import Envelope, Reply
from eventing.grouped import settle

BATCH_TYPE = "batch"
BATCH_PART_TYPE = "batch-part"
# Set on a batch whose sender takes its replies in parts.
PARTS_HEADER = "x-replies-in-parts"
# Requests per batch.
MAX_BATCH = 200

BATCH_OF_ENVELOPES: TypeAdapter[list[Envelope]] = TypeAdapter(list[Envelope])
BATCH_OF_REPLIES: TypeAdapter[list[Reply]] = TypeAdapter(list[Reply])
BATCH_PART: TypeAdapter[list[tuple[int, Reply]]] = TypeAdapter(list[tuple[int, Reply]])


async def answer_in_parts(
    envelopes: Sequence[Envelope],
    answer: Callable[[Envelope], Awaitable[Reply]],
    send: Callable[[bytes], Awaitable[None]],
) -> None:
    """Answer each request of a batch as soon as it is decided, those decided at the same
    moment in one part; returns once every part is sent."""
    indexes = {asyncio.ensure_future(answer(envelope)): i for i, envelope in enumerate(envelopes)}
    pending = set(indexes)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        await send(BATCH_PART.dump_json([(indexes[task], task.result()) for task in done]))


class ReplyQueue:
    def __init__(self, name: str) -> None:
        self.name = name
        self._pending: dict[str, asyncio.Future[bytes]] = {}
        self._sent_batches: dict[str, _SentBatch] = {}
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._batches: dict[tuple[str, float, str], _Batcher] = {}

    async def start(self, channel: AbstractChannel) -> None:
        self._channel = channel
        # Exclusive and named by us, so a robust channel re-declares it after a reconnect.
        self._queue = await channel.declare_queue(self.name, exclusive=True, auto_delete=True)
        await self._queue.consume(self._on_reply, no_ack=True)

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        request_id = message.correlation_id or ""
        sent = self._sent_batches.get(request_id)
        if sent is not None:
            sent.answer(message.type, message.body)
            if sent.answered:
                self._sent_batches.pop(request_id, None)
            return
        future = self._pending.get(request_id)
        if future is not None and not future.done():
            future.set_result(message.body)

    async def request(
        self, *, routing_key: str, envelope: Envelope, timeout: float, batch: str | None = None
    ) -> Reply:
        """Send ``envelope`` and wait for its reply; with ``batch``, together with the
        other requests of that group made at the same moment."""
        if batch is None:
            async with asyncio.timeout(timeout):
                future = await self._send(routing_key, envelope, timeout)
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
        self, routing_key: str, envelope: Envelope, timeout: float
    ) -> asyncio.Future[bytes]:
        """Publish a request; the future of its reply's body, forgotten once done or
        cancelled (cancel it when giving up)."""
        request_id = uuid.uuid4().hex
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        future.add_done_callback(lambda _: self._pending.pop(request_id, None))
        try:
            await self._publish(
                routing_key,
                envelope.model_dump_json().encode(),
                message_id=envelope.message_id,
                message_type=envelope.type,
                request_id=request_id,
                timeout=timeout,
            )
        except BaseException:
            future.cancel()
            raise
        return future

    async def _send_batch(self, routing_key: str, batch: list[_Request], timeout: float) -> None:
        """Publish a batch; each of its requests is answered as its part of the reply
        comes, or fails when ``timeout`` passes first."""
        request_id = uuid.uuid4().hex
        sent = self._sent_batches[request_id] = _SentBatch(batch)

        def expire(error: BaseException) -> None:
            sent.fail(error)
            self._sent_batches.pop(request_id, None)

        try:
            await self._publish(
                routing_key,
                BATCH_OF_ENVELOPES.dump_json([request.envelope for request in batch]),
                message_id=uuid.uuid4().hex,
                message_type=BATCH_TYPE,
                request_id=request_id,
                timeout=timeout,
                headers={PARTS_HEADER: 1},
            )
        except BaseException as error:
            expire(error)
            raise
        asyncio.get_running_loop().call_later(timeout, expire, TimeoutError())

    async def _publish(
        self,
        routing_key: str,
        body: bytes,
        *,
        message_id: str,
        message_type: str,
        request_id: str,
        timeout: float,
        headers: dict[str, aio_pika.abc.FieldValue] | None = None,
    ) -> None:
        if self._channel is None:
            raise RuntimeError("the reply queue is not started")
        await self._channel.default_exchange.publish(
            aio_pika.Message(
                body,
                content_type="application/json",
                message_id=message_id,
                type=message_type,
                correlation_id=request_id,
                reply_to=self.name,
                expiration=timeout,
                headers=headers,
            ),
            routing_key=routing_key,
            mandatory=True,
        )


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
                    if len(batch) == 1:
                        reply = await self.replies._send(
                            self.routing_key, batch[0].envelope, self.timeout
                        )
                        reply.add_done_callback(functools.partial(_answer_one, batch[0]))
                        # Nobody awaits the reply but the request, with this timeout.
                        asyncio.get_running_loop().call_later(self.timeout, reply.cancel)
                    else:
                        await self.replies._send_batch(self.routing_key, batch, self.timeout)
                except Exception as error:  # noqa: BLE001 - every request of the batch gets it
                    for request in batch:
                        settle(request.reply, error)
        finally:
            if not self.waiting:
                self.on_idle()


def _answer_one(request: _Request, done: asyncio.Future[bytes]) -> None:
    if done.cancelled():
        settle(request.reply, TimeoutError())
        return
    try:
        settle(request.reply, Reply.model_validate_json(done.result()))
    except ValidationError as error:
        settle(request.reply, error)


@dataclass
class _SentBatch:
    """A published batch whose replies are on their way, in one message or in parts."""

    requests: list[_Request]

    @property
    def answered(self) -> bool:
        return all(request.reply.done() for request in self.requests)

    def answer(self, message_type: str | None, body: bytes) -> None:
        try:
            if message_type == BATCH_PART_TYPE:
                part = BATCH_PART.validate_json(body)
            else:
                replies = BATCH_OF_REPLIES.validate_json(body)
                if len(replies) != len(self.requests):
                    raise ValueError(f"{len(replies)} replies to a batch of {len(self.requests)}")
                part = list(enumerate(replies))
            if any(not 0 <= index < len(self.requests) for index, _ in part):
                raise ValueError(f"a reply names a request outside a batch of {len(self.requests)}")
        except (ValidationError, ValueError) as error:
            self.fail(error)
            return
        for index, reply in part:
            settle(self.requests[index].reply, reply)

    def fail(self, error: BaseException) -> None:
        """Every request not answered yet gets ``error``."""
        for request in self.requests:
            settle(request.reply, error)
