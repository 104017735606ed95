"""Error codes and the reply every command and query answers with."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class ErrorCode(StrEnum):
    VALIDATION_ERROR = "VALIDATION_ERROR"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    VOTING_NOT_OPEN = "VOTING_NOT_OPEN"
    VOTING_CLOSED = "VOTING_CLOSED"
    VOTING_ALREADY_OPEN = "VOTING_ALREADY_OPEN"
    ALREADY_VOTED = "ALREADY_VOTED"
    UNKNOWN_OPTION = "UNKNOWN_OPTION"
    INSUFFICIENT_CREDITS = "INSUFFICIENT_CREDITS"
    TOO_MANY_CONCURRENT_VOTINGS = "TOO_MANY_CONCURRENT_VOTINGS"
    EMAIL_TAKEN = "EMAIL_TAKEN"
    RATE_LIMITED = "RATE_LIMITED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INTERNAL_ERROR = "INTERNAL_ERROR"


class ErrorInfo(BaseModel):
    code: ErrorCode
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class Reply(BaseModel):
    """The answer to a command or query: a result, or an error a client can act on."""

    result: dict[str, Any] | list[Any] | None = None
    error: ErrorInfo | None = None

    @classmethod
    def ok(cls, result: dict[str, Any] | list[Any] | None = None) -> Reply:
        return cls(result=result)

    @classmethod
    def fail(cls, code: ErrorCode, message: str, **details: Any) -> Reply:
        return cls(error=ErrorInfo(code=code, message=message, details=details))
