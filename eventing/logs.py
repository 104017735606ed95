"""Structured logs (structlog) that carry the correlation id of the message at hand."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import structlog

# What must never reach a log line, whoever writes it (our code, uvicorn, a library): an
# access token in a URL or header, a JWT anywhere, passwords and Stripe secrets.
_SECRETS = (
    (re.compile(r"(?i)\b(bearer)\s+[^\s\"',]+"), r"\1 [redacted]"),
    (
        re.compile(r"(?i)\b(token|access_token|password|secret|api_key|key)=[^&\s\"',]+"),
        r"\1=[redacted]",
    ),
    (re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*"), "[redacted token]"),
    (re.compile(r"\b(whsec|sk_live|sk_test|rk_live|rk_test)_[A-Za-z0-9_]+"), r"\1_[redacted]"),
)


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _redact_secrets(
    _: Any, __: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    for name, value in event_dict.items():
        if isinstance(value, str):
            event_dict[name] = redact(value)
    return event_dict


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_secrets,
    ]
    structlog.configure(
        # Level first: a debug line in a hot path (a saga step) then costs a level check,
        # not the timestamp and the secret patterns of a line nobody will see.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Third-party chatter at INFO (every consumed message, every request) drowns the
    # service's own lines.
    for noisy in ("aio_pika", "aiormq", "pymongo", "faststream", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.contextvars.bind_contextvars(service=service)


_CORRELATION_ID: ContextVar[str | None] = ContextVar("correlation_id", default=None)


@contextmanager
def correlation(correlation_id: str, **context: str) -> Iterator[None]:
    """Bind the correlation id (and more) to every log line written inside the block, and
    name it there (:func:`current_correlation_id`)."""
    tokens = structlog.contextvars.bind_contextvars(correlation_id=correlation_id, **context)
    current = _CORRELATION_ID.set(correlation_id)
    try:
        yield
    finally:
        _CORRELATION_ID.reset(current)
        structlog.contextvars.reset_contextvars(**tokens)


def current_correlation_id() -> str | None:
    """The correlation id of the conversation being handled (the innermost
    :func:`correlation` block: an HTTP request's, a message's), or None outside one."""
    return _CORRELATION_ID.get()


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
