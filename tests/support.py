"""Helpers shared by the tests."""

from __future__ import annotations

import asyncio
import inspect
import io
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from faststream import BaseMiddleware
from faststream._internal.context.repository import ContextRepo
from faststream.message import StreamMessage
from pymongo import monitoring
from pymongo.asynchronous.database import AsyncDatabase
from pypdf import PdfReader

from contracts import Envelope
from contracts.gateway import UserRegistered
from contracts.voting import VotingOption, VotingScheduled
from eventing.outbox import ONLY_COMMITS
from eventing.relay import OutboxRelay, Publish
from eventing.rpc import BATCH_OF_ENVELOPES, BATCH_TYPE
from eventing.service import ServiceRuntime
from eventing.store import COMMITS

T = TypeVar("T")

# What tests leave for a person to look at (git-ignored).
TEST_OUTPUT = Path(__file__).resolve().parent.parent / "test-output"


async def eventually(
    probe: Callable[[], Awaitable[T] | T], *, timeout: float = 15.0, interval: float = 0.05
) -> T:
    """Poll ``probe`` (a function, or a coroutine function) until it returns something
    truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        value: T = await answer if inspect.isawaitable(answer) else answer
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        await asyncio.sleep(interval)


def pdf_text(pdf: bytes) -> str:
    """The text of every page of a PDF, as a reader would copy it out."""
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def keep_pdf(pdf: bytes, name: str) -> Path:
    """Keep a PDF as ``test-output/<name>.pdf`` with a PNG of its first page beside it
    (Debian's poppler-utils, at 80 dpi), for a person to look at; returns the PNG's path."""
    if shutil.which("pdftoppm") is None:
        raise AssertionError("pdftoppm is not installed: run scripts/stack.sh install")
    stem = TEST_OUTPUT / name
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-singlefile", stem.with_suffix(".pdf"), stem],
        check=True,
        capture_output=True,
    )
    return stem.with_suffix(".png")


def voting_scheduled(
    voting_id: str, opens_at: datetime, closes_at: datetime, title: str = "The final"
) -> VotingScheduled:
    """A free voting with one option, as the voting service announces it."""
    return VotingScheduled(
        voting_id=voting_id,
        title=title,
        description="",
        kind="free",
        cost=0,
        options=[VotingOption(id="o1", label="Yes")],
        opens_at=opens_at,
        closes_at=closes_at,
        scheduled_by="admin",
    )


def registered(user_id: str) -> UserRegistered:
    """A plain user's registration, as the gateway announces it."""
    return UserRegistered(
        user_id=user_id, email=f"{user_id}@example.com", display_name=user_id.title(), role="user"
    )


async def count_commits(database: AsyncDatabase[dict[str, Any]], query: dict[str, Any]) -> int:
    """Commits matching ``query`` in a service's event store (not the outbox entries
    among them)."""
    return await database[COMMITS].count_documents({"$and": [ONLY_COMMITS, query]})


class Handled:
    """The messages that the consumers of some runtimes have finished handling, by
    message id: the proof that a message was handled, where a test shows that handling
    it changed nothing.

    Counted in a broker middleware, after the handler returned (a handler that raised
    counts nothing: its message is redelivered). The events of a batch are counted when
    the batch's handler returns; one whose own handler failed is sent back to the queue
    and counted again when handled alone.
    """

    def __init__(self, *runtimes: ServiceRuntime) -> None:
        self.counts: Counter[str] = Counter()
        for runtime in runtimes:
            self.watch(runtime)

    def watch(self, runtime: ServiceRuntime) -> None:
        """Count what ``runtime`` handles too (before the messages are published)."""
        # The subscribers read the broker's middlewares for every message they take.
        runtime.bus.broker.add_middleware(self._middleware)

    def _middleware(self, msg: Any, /, *, context: ContextRepo) -> BaseMiddleware:
        return _CountHandled(msg, context=context, counts=self.counts)

    async def all(self, *envelopes: Envelope) -> None:
        """Until each envelope has been handled as often as it is given here (a message
        published twice is given twice)."""
        wanted = Counter(envelope.message_id for envelope in envelopes)
        await eventually(lambda: all(self.counts[m] >= n for m, n in wanted.items()))


class _CountHandled(BaseMiddleware):
    def __init__(self, msg: Any, /, *, context: ContextRepo, counts: Counter[str]) -> None:
        super().__init__(msg, context=context)
        self._counts = counts

    async def consume_scope(
        self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
    ) -> Any:
        result = await call_next(msg)
        if getattr(msg.raw_message, "type", None) == BATCH_TYPE:
            self._counts.update(e.message_id for e in BATCH_OF_ENVELOPES.validate_json(msg.body))
        elif msg.message_id:
            self._counts[msg.message_id] += 1
        return result


class Rounds:
    """Counts the runs of a step that a background loop takes again and again (a method
    the loop looks up on its object every turn: a timer loop's round, a sweep), so that
    a test can wait for one begun after a moment, as the proof that the loop has looked
    at the state of that moment."""

    def __init__(self, owner: object, method: str) -> None:
        self.begun = 0
        # The latest run (by when it began) that has finished.
        self.finished = 0
        step: Callable[..., Awaitable[Any]] = getattr(owner, method)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.begun += 1
            run = self.begun
            result = await step(*args, **kwargs)
            self.finished = max(self.finished, run)
            return result

        setattr(owner, method, counted)

    async def one_begun_now(self) -> None:
        """Until a run begun after this call has finished (an unfinished one does not
        count, nor one that raised)."""
        mark = self.begun
        await eventually(lambda: self.finished > mark)


class SentCommands(monitoring.CommandListener):
    """The commands a MongoDB client sends, in order: give it to the client as one of its
    ``event_listeners``."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []  # (command, collection)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.sent]

    def in_collection(self, name: str) -> list[str]:
        """The collections the commands called ``name`` went to."""
        return [collection for command, collection in self.sent if command == name]

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent.append((event.command_name, str(event.command.get(event.command_name, ""))))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def stop_relay(runtime: ServiceRuntime) -> None:
    """Stop the runtime's own relay, so that what it appends waits for a test's relay."""
    assert runtime._relay_task is not None
    runtime._relay_task.cancel()
    await asyncio.gather(runtime._relay_task, return_exceptions=True)


def unswept_relay(
    runtime: ServiceRuntime, publish: Publish, *, linger_seconds: float = 0.0
) -> OutboxRelay:
    """A relay of the runtime's appends to ``publish`` that never sweeps by itself."""
    return OutboxRelay(
        runtime.store,
        publish,
        runtime.relay._lease,
        route=runtime.bus.route,
        sweep_seconds=3600,
        grace_seconds=3600,
        linger_seconds=linger_seconds,
    )
