"""Handler maps with typed registration.

Each handler is registered with the message class it takes, and the type checker holds
the two together: a handler of ``CastVote`` cannot be registered for ``GetResults``, and
the handler body needs no ``isinstance`` narrowing. The bus reads a map as a plain
mapping from message class to handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from contracts import Envelope, Message

M = TypeVar("M", bound=Message)
R = TypeVar("R")


class HandlerMap(Mapping[type[Message], Callable[[Any, Envelope], Awaitable[R]]], Generic[R]):
    def __init__(self) -> None:
        self._handlers: dict[type[Message], Callable[[Any, Envelope], Awaitable[R]]] = {}

    def on(self, message: type[M], handler: Callable[[M, Envelope], Awaitable[R]]) -> HandlerMap[R]:
        """Register ``handler`` for ``message`` (once per class); returns the map."""
        if message in self._handlers:
            raise ValueError(f"{message.type} has a handler already")
        self._handlers[message] = handler
        return self

    def merge(
        self, other: Mapping[type[Message], Callable[[Any, Envelope], Awaitable[R]]]
    ) -> HandlerMap[R]:
        """Add every handler of ``other`` (none of its classes may be here already)."""
        for message, handler in other.items():
            self.on(message, handler)
        return self

    def __getitem__(self, message: type[Message]) -> Callable[[Any, Envelope], Awaitable[R]]:
        return self._handlers[message]

    def __iter__(self) -> Iterator[type[Message]]:
        return iter(self._handlers)

    def __len__(self) -> int:
        return len(self._handlers)
