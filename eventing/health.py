"""Liveness and readiness over HTTP, for service processes that serve no HTTP of their own.

Kubernetes probes over HTTP, so a queue consumer needs a small server to be probed at:

- ``GET /healthz`` answers 200 as long as the process's event loop runs. The server lives
  in that same loop, so a loop that is blocked or gone fails the probe, which is what a
  liveness probe is for.
- ``GET /readyz`` runs the readiness checks side by side, each bounded in time, and answers
  200 ``{"status": "ready", "checks": {...}}`` when all pass, else 503 with the gateway's
  error shape: ``{"error": {"code": "SERVICE_UNAVAILABLE", "message", "details":
  {"checks": {...}}}}``, so one probe format serves the whole system.

Starlette served by ``uvicorn.Server`` inside the running loop, not uvicorn's own process
management: the process belongs to its service, which handles the signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator, Mapping

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from contracts import ErrorCode, ErrorInfo
from eventing.logs import get_logger
from eventing.metrics import metrics

log = get_logger(__name__)

Check = Callable[[], Awaitable[bool]]

# Kubernetes' default probe timeout is 1 s and ours are set to a few seconds; a check that
# hangs longer than this counts as failed, so the probe gets an answer in time.
CHECK_SECONDS = 2.0

# Long enough to finish a probe in flight, short enough not to hold up a pod's shutdown.
_GRACEFUL_SHUTDOWN_SECONDS = 1


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves SIGTERM and SIGINT to the process that embeds it.

    Left to itself, uvicorn replaces the process's handlers of both while it serves and
    shuts down at the first signal: the probes would go dark while the service is still
    draining, and the signal would be raised once more when uvicorn is done. The service
    stops this server itself, last.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HealthServer:
    """``/healthz`` and ``/readyz`` on ``host:port`` (port 0: any free port, see :attr:`port`)."""

    def __init__(
        self,
        checks: Mapping[str, Check],
        host: str,
        port: int,
        *,
        check_seconds: float = CHECK_SECONDS,
    ) -> None:
        self._checks = dict(checks)
        self._host = host
        self._requested_port = port
        self._check_seconds = check_seconds
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self.port: int | None = None
        self.app = Starlette(
            routes=[
                Route("/healthz", self._alive, methods=["GET"]),
                Route("/readyz", self._ready, methods=["GET"]),
                Route("/metrics", metrics, methods=["GET"]),
            ]
        )

    async def readiness(self) -> dict[str, bool]:
        """Every check's outcome, run concurrently."""
        names = list(self._checks)
        outcomes = await asyncio.gather(*(self._run(name) for name in names))
        return dict(zip(names, outcomes, strict=True))

    async def _run(self, name: str) -> bool:
        try:
            async with asyncio.timeout(self._check_seconds):
                return await self._checks[name]()
        except Exception as error:  # noqa: BLE001 - any failure of a check means "not ready"
            log.warning("readiness check failed", check=name, error=repr(error))
            return False

    async def _alive(self, _: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def _ready(self, _: Request) -> JSONResponse:
        checks = await self.readiness()
        if all(checks.values()):
            return JSONResponse({"status": "ready", "checks": checks})
        failed = ", ".join(name for name, passed in checks.items() if not passed)
        error = ErrorInfo(
            code=ErrorCode.SERVICE_UNAVAILABLE,
            message=f"not ready: {failed}",
            details={"checks": checks},
        )
        return JSONResponse({"error": error.model_dump(mode="json")}, status_code=503)

    async def start(self) -> None:
        """Listen and serve; raises ``OSError`` at once if the address cannot be bound."""
        # Bound here rather than by uvicorn, which answers a busy port with sys.exit()
        # inside its task instead of an error the caller can see.
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.create_server((self._host, self._requested_port), family=family)
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_SECONDS,
        )
        server = _EmbeddedServer(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name="health-server")
        self._server, self._task = server, task
        while not server.started:
            if task.done():
                sock.close()
                await task
                raise RuntimeError("the health server stopped while starting")
            await asyncio.sleep(0.01)
        log.info("health server listening", host=self._host, port=self.port)

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._server = self._task = None
