"""Hostile requests to the real gateway process, over a plain socket."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import RunningSystem

pytestmark = pytest.mark.e2e


async def test_a_huge_body_is_refused_before_it_is_sent(running: RunningSystem) -> None:
    address = urlsplit(running.system.base_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(
            b"POST /api/v1/auth/signup HTTP/1.1\r\nHost: gateway\r\n"
            b"Content-Type: application/json\r\nContent-Length: 200000000\r\n\r\n{"
        )
        await writer.drain()
        # Answered with 200 MB still to come: nothing waits for the body.
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
        assert head.startswith(b"HTTP/1.1 413 ")
        assert b"connection: close" in head.lower()
    finally:
        writer.close()


@pytest.mark.parametrize(
    "request_bytes",
    [b"NOT A REQUEST\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"],
    ids=["request-line", "header"],
)
async def test_a_malformed_request_is_answered_in_the_error_format(
    running: RunningSystem, request_bytes: bytes
) -> None:
    address = urlsplit(running.system.base_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(request_bytes)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 422 ")
    assert json.loads(body)["error"]["code"] == "VALIDATION_ERROR"
