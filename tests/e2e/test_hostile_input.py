"""Hostile requests to the real gateway process, over a plain socket."""

from __future__ import annotations

import asyncio
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
