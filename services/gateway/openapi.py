"""The OpenAPI schema, with the answers the gateway's own layers give.

Some errors do not come from a route's code and so cannot be forgotten by one: a body
over the size limit (413, :mod:`services.gateway.body_limit`) on every operation that
takes a body, an ``Idempotency-Key`` reused for another request (409,
:mod:`services.gateway.idempotency`) on every operation that takes the key, and 404 on
every operation with a path parameter (a value with a ``/`` in it names no route). They
are added here from what each operation declares.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from contracts import ErrorCode

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}


def _document(operation: dict[str, Any], status: int, code: ErrorCode) -> None:
    answers = operation.setdefault("responses", {})
    answer = answers.setdefault(str(status), {"description": "", "content": _ERROR})
    names = [n for n in answer["description"].split(" or ") if n]
    if code.value not in names:
        answer["description"] = " or ".join([*names, code.value])


def _takes(operation: dict[str, Any], where: str, name: str | None = None) -> bool:
    return any(
        parameter.get("in") == where and name in (None, parameter.get("name"))
        for parameter in operation.get("parameters", ())
    )


def complete(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the layers' answers to every operation of ``schema`` (in place)."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            if "requestBody" in operation:
                _document(operation, 413, ErrorCode.PAYLOAD_TOO_LARGE)
            if _takes(operation, "header", "Idempotency-Key"):
                _document(operation, 409, ErrorCode.IDEMPOTENCY_KEY_REUSED)
            if _takes(operation, "path"):
                _document(operation, 404, ErrorCode.NOT_FOUND)
    return schema


def install_openapi(app: FastAPI) -> None:
    """Serve the completed schema at ``app.openapi_url``."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
