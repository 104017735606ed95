"""The one error format of the API, and the HTTP status of every error code.

Every error a client sees is ``{"error": {"code", "message", "details"}}``: errors the
gateway raises, errors the other services reply with, invalid requests, unknown routes.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from contracts import ErrorCode, ErrorInfo

STATUS: dict[ErrorCode, int] = {
    ErrorCode.VALIDATION_ERROR: 422,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.VOTING_NOT_OPEN: 409,
    ErrorCode.VOTING_CLOSED: 409,
    ErrorCode.VOTING_ALREADY_OPEN: 409,
    ErrorCode.ALREADY_VOTED: 409,
    ErrorCode.UNKNOWN_OPTION: 422,
    ErrorCode.INSUFFICIENT_CREDITS: 402,
    ErrorCode.TOO_MANY_CONCURRENT_VOTINGS: 409,
    ErrorCode.EMAIL_TAKEN: 409,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: 409,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
}

# Errors Starlette raises itself (routing, malformed requests), by status.
_HTTP_CODES: dict[int, str] = {
    400: ErrorCode.VALIDATION_ERROR,
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    429: ErrorCode.RATE_LIMITED,
    503: ErrorCode.SERVICE_UNAVAILABLE,
}


class ApiError(Exception):
    """An error a client can act on: its code decides the HTTP status."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        details: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})
        # For callers that prescribe a status of their own (Stripe expects 400).
        self._status = status

    @property
    def status(self) -> int:
        return self._status or STATUS.get(self.code, 500)

    @classmethod
    def from_reply(cls, error: ErrorInfo) -> ApiError:
        """A service's error reply, passed on to the client as it is."""
        return cls(error.code, error.message, error.details)


class ErrorBody(BaseModel):
    code: str = Field(examples=["ALREADY_VOTED"])
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorResponse(BaseModel):
    error: ErrorBody


def error_response(
    status: int,
    code: str,
    message: str,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(error=ErrorBody(code=code, message=message, details=dict(details or {})))
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def responses(*codes: ErrorCode) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of the errors a route answers with."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(STATUS[code], []).append(code.value)
    return {
        status: {"model": ErrorResponse, "description": " or ".join(names)}
        for status, names in sorted(by_status.items())
    }


async def _api_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return error_response(error.status, error.code, error.message, error.details, error.headers)


async def _invalid_request(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    # Only what a client can act on: the raw input and exception objects in the full
    # pydantic errors may not serialise and may echo secrets (a password) back.
    fields = [
        {"loc": list(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type", "")}
        for e in error.errors()
    ]
    return error_response(
        422, ErrorCode.VALIDATION_ERROR, "the request is not valid", {"errors": fields}
    )


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    status = error.status_code
    if status == 400:
        # FastAPI's own 400 (a body it could not parse) is a request that is not valid,
        # answered like every other: 422 VALIDATION_ERROR.
        return error_response(
            422,
            ErrorCode.VALIDATION_ERROR,
            "the request body could not be read",
            {
                "errors": [
                    {"loc": ["body"], "message": str(error.detail), "type": "body_unreadable"}
                ]
            },
        )
    headers = error.headers
    if status == 405:
        # Starlette names the methods of the first route that matched the path; a path
        # served by several routes (GET and POST of one collection) allows them all.
        headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
    code = _HTTP_CODES.get(
        status, ErrorCode.INTERNAL_ERROR if status >= 500 else ErrorCode.VALIDATION_ERROR
    )
    if status == 404:
        message = "no such route"
    elif isinstance(error.detail, str) and error.detail:
        message = error.detail
    else:
        message = HTTPStatus(status).phrase
    return error_response(status, code, message, headers=headers)


_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> list[str]:
    def served(method: str) -> bool:
        scope = {**request.scope, "method": method}
        return any(route.matches(scope)[0] == Match.FULL for route in request.app.routes)

    return [method for method in _METHODS if served(method)]


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
