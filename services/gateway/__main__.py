"""``python -m services.gateway``: serve the HTTP API with uvicorn."""

from __future__ import annotations

import json
import socket

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from contracts import ErrorCode
from eventing.logs import configure_logging
from eventing.service import leave_startup_heap_alone
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings


def listening_socket(host: str, port: int, *, shared: bool) -> socket.socket:
    """A socket bound to ``host:port``; a ``shared`` one lets other processes bind the
    same port (SO_REUSEPORT), and the kernel spreads new connections over all of them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind((host, port))
    listener.set_inheritable(True)
    return listener


class JsonErrorsProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol, answering a request it cannot parse (a malformed request
    line or header) in the API's error format instead of plain text."""

    def send_400_response(self, msg: str) -> None:
        error = {"code": ErrorCode.VALIDATION_ERROR, "message": f"malformed HTTP: {msg}"}
        body = json.dumps({"error": {**error, "details": {}}}).encode()
        head = (
            b"HTTP/1.1 422 Unprocessable Entity\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n"
        )
        self.transport.write(head + body)
        self.transport.close()


def main() -> None:
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level, settings.log_format)
    sockets = [listening_socket(settings.host, settings.port, shared=settings.share_port)]
    if settings.replica_port is not None:
        sockets.append(listening_socket(settings.host, settings.replica_port, shared=False))
    app = create_app(settings)
    leave_startup_heap_alone()
    config = uvicorn.Config(
        app,
        # Keep the structured logging configured above instead of uvicorn's own.
        log_config=None,
        http=JsonErrorsProtocol,
        # The client's address for the abuse limits: the proxies named here may say whom
        # they forward (X-Forwarded-For).
        forwarded_allow_ips=settings.forwarded_allow_ips,
        # The gateway logs every request itself, without its query string (a WebSocket's
        # carries the access token).
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run(sockets=sockets)


if __name__ == "__main__":
    main()
