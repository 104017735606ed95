"""A stand-in for Firebase Cloud Messaging's HTTP v1 API, for local runs and tests.

``python -m scripts.fake_fcm [--port 12121]`` (``make run`` starts it). firebase-admin
sends to it unchanged, through its ``FCM_URL`` seam, with credentials that need no
Google account; it answers as FCM does:

- ``POST /v1/projects/{project}/messages:send``: a bearer token is required (401
  without); a message to a device token (``fid``, or ``token`` as older clients say)
  beginning with ``dead-`` is answered 404 ``UNREGISTERED``, ``invalid-`` 400
  ``INVALID_ARGUMENT``, ``mismatch-`` 403 ``SENDER_ID_MISMATCH``; any other is accepted
  (200 ``{"name"}``) and recorded.
- ``GET /messages``: what it accepted, oldest first, as
  ``[{"token", "message", "received_at"}]`` (``?token=`` for one device's, ``?prefix=``
  for the devices whose token begins so);
  ``DELETE /messages`` forgets them (and any faults to come). ``GET /stats``: counts by outcome.
- ``POST /faults`` ``{"status": 429 | 500 | 503, "count": N, "retry_after": S}``: the next
  N sends are refused with that status (and ``Retry-After: S``), to test backoff.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

DEFAULT_PORT = 12121
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"

_REFUSED_TOKENS: dict[str, tuple[int, str, str]] = {
    # prefix: (HTTP status, google.rpc status, FCM error code)
    "dead-": (404, "NOT_FOUND", "UNREGISTERED"),
    "invalid-": (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
    "mismatch-": (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"),
}
_FAULT_STATUS = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
_FAULT_CODE = {429: "QUOTA_EXCEEDED", 500: "INTERNAL", 503: "UNAVAILABLE"}


class Fault(BaseModel):
    status: Literal[429, 500, 503]
    count: int = Field(default=1, ge=1, le=1_000_000)
    retry_after: int | None = Field(default=None, ge=0, le=3600)


@dataclass
class Received:
    messages: list[dict[str, Any]] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)
    faults: list[Fault] = field(default_factory=list)

    def next_fault(self) -> Fault | None:
        if not self.faults:
            return None
        fault = self.faults[0]
        if fault.count == 1:
            self.faults.pop(0)
        else:
            self.faults[0] = fault.model_copy(update={"count": fault.count - 1})
        return fault


def _error(status: int, rpc_status: str, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "error": {
                "code": status,
                "message": message,
                "status": rpc_status,
                "details": [
                    {
                        "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                        "errorCode": code,
                    }
                ],
            }
        },
        status_code=status,
    )


def create_app() -> FastAPI:
    app = FastAPI(title="fake FCM", docs_url=None, redoc_url=None, openapi_url=None)
    received = Received()

    @app.post("/v1/projects/{project}/messages:send")
    async def send(project: str, request: Request) -> JSONResponse:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            received.stats["unauthenticated"] += 1
            return JSONResponse({"error": {"code": 401, "status": "UNAUTHENTICATED"}}, 401)
        fault = received.next_fault()
        if fault is not None:
            received.stats[f"fault {fault.status}"] += 1
            response = _error(
                fault.status, _FAULT_STATUS[fault.status], _FAULT_CODE[fault.status], "try later"
            )
            if fault.retry_after is not None:
                response.headers["Retry-After"] = str(fault.retry_after)
            return response
        body = await request.json()
        message = body.get("message") or {}
        # firebase-admin names the device's token `fid` now; older clients say `token`.
        token = message.get("fid") or message.get("token")
        if not isinstance(token, str) or not token:
            received.stats["invalid"] += 1
            return _error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "a message needs a token")
        for prefix, (status, rpc_status, code) in _REFUSED_TOKENS.items():
            if token.startswith(prefix):
                received.stats[code] += 1
                return _error(status, rpc_status, code, f"token refused: {code}")
        if body.get("validate_only"):
            received.stats["validated"] += 1
        else:
            received.stats["accepted"] += 1
            received.messages.append(
                {"token": token, "message": message, "received_at": datetime.now(UTC).isoformat()}
            )
        return JSONResponse({"name": f"projects/{project}/messages/{uuid.uuid4().hex}"})

    @app.get("/messages")
    async def messages(token: str | None = None, prefix: str = "") -> list[dict[str, Any]]:
        return [
            m
            for m in received.messages
            if (token is None or m["token"] == token) and m["token"].startswith(prefix)
        ]

    @app.delete("/messages", status_code=204)
    async def forget() -> None:
        received.messages.clear()
        received.stats.clear()
        received.faults.clear()

    @app.get("/stats")
    async def stats() -> dict[str, int]:
        return dict(received.stats)

    @app.post("/faults", status_code=204)
    async def faults(fault: Fault) -> None:
        received.faults.append(fault)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


class FakeFcm:
    """The fake FCM server as a child process, and what a test asks of it."""

    def __init__(self, port: int = DEFAULT_PORT, output: IO[str] | None = None) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self._port = port
        self._output = output
        self._process: subprocess.Popen[bytes] | None = None

    def answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def start(self, timeout: float = 20.0) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "scripts.fake_fcm", "--port", str(self._port)],
            cwd=Path(__file__).resolve().parent.parent,
            stdout=self._output or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the fake FCM server did not start on {self.url}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(10)

    async def messages(self, token: str | None = None, prefix: str = "") -> list[dict[str, Any]]:
        params = {"prefix": prefix} | ({"token": token} if token else {})
        async with httpx.AsyncClient(base_url=self.url) as client:
            response = await client.get("/messages", params=params)
            response.raise_for_status()
            received: list[dict[str, Any]] = response.json()
            return received

    async def stats(self) -> dict[str, int]:
        async with httpx.AsyncClient(base_url=self.url) as client:
            response = await client.get("/stats")
            response.raise_for_status()
            counts: dict[str, int] = response.json()
            return counts

    async def fail_next(self, status: int, count: int, retry_after: int | None = None) -> None:
        async with httpx.AsyncClient(base_url=self.url) as client:
            fault = {"status": status, "count": count, "retry_after": retry_after}
            (await client.post("/faults", json=fault)).raise_for_status()

    async def clear(self) -> None:
        async with httpx.AsyncClient(base_url=self.url) as client:
            (await client.delete("/messages")).raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.fake_fcm", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    arguments = parser.parse_args()
    uvicorn.run(create_app(), host=arguments.host, port=arguments.port, access_log=False)


if __name__ == "__main__":
    main()
