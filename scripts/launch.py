"""Run the whole system locally: the stack, then every service as its own process.

``python -m scripts.launch [--replicas N]`` (what ``make run`` calls) starts what the local
stack lacks, starts gateway, voting, wallet, notifier and scheduler (N processes of each),
waits until each answers, prints where the API is and how to log in, and on Ctrl-C
stops everything it started.
The end-to-end tests use :class:`System` to run the same processes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

from contracts import Envelope
from contracts.system import Ping
from contracts.topology import SERVICES
from eventing.bus import Bus, ServiceUnavailable
from eventing.settings import RuntimeSettings
from scripts.fake_fcm import FakeFcm

ROOT = Path(__file__).resolve().parent.parent
STACK = str(ROOT / "scripts" / "stack.sh")
DEFAULT_ADMIN_EMAIL = "admin@livevote.dev"
DEFAULT_ADMIN_PASSWORD = "change-me-locally"
LOCAL_STRIPE = "http://127.0.0.1:12111"
# Signs the webhook payloads a developer posts by hand (or `stripe listen` forwards).
LOCAL_WEBHOOK_SECRET = "whsec_local_development_only"


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServiceProcess:
    """One process of one service as a child, its output prefixed with its name."""

    def __init__(
        self, service: str, env: Mapping[str, str], output: IO[str] | None, name: str = ""
    ) -> None:
        self.service = service
        self.name = name or service
        self.env = dict(env)
        self._output = output
        self.command = [sys.executable, "-m", f"services.{service}"]
        self.process: subprocess.Popen[str] | None = None

    @property
    def ready_url(self) -> str:
        """Where this process says it is ready: the gateway on its own port, the other
        services on their probe server."""
        if self.service == "gateway":
            port = self.env.get("LIVEVOTE_REPLICA_PORT") or self.env.get("LIVEVOTE_PORT", "8000")
        else:
            port = self.env["LIVEVOTE_HEALTH_PORT"]
        return f"http://127.0.0.1:{port}/readyz"

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until the process says it is ready (it must be running)."""
        deadline = time.monotonic() + timeout
        while not _ready(self.ready_url):
            if not self.running or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not get ready")
            time.sleep(0.1)

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # Ctrl-C reaches the launcher, which stops us in order
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            if self._output is not None:
                self._output.write(f"{self.name:>11} | {line}")
                self._output.flush()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if it does not stop within ``timeout``."""
        if not self.running:
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """Die at once, as on a crash (SIGKILL)."""
        if self.running:
            assert self.process is not None
            self.process.kill()
            self.process.wait()

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): it holds its connections but does nothing."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


class System:
    """Every service as ``replicas`` processes sharing one environment (namespace, URLs).

    The gateway replicas share the public port (``LIVEVOTE_PORT``, SO_REUSEPORT: the
    kernel spreads connections over them) and each also listens on a port of its own, to
    reach one replica on purpose. Each process of the other services serves its probes
    on a port of its own. ``processes`` names the first replica of a service after the
    service and the others ``<service>#2``, ``<service>#3``, ...
    """

    def __init__(
        self, env: Mapping[str, str], output: IO[str] | None = sys.stdout, replicas: int = 1
    ) -> None:
        if replicas < 1:
            raise ValueError("a system runs at least one process of each service")
        self.env = dict(env)
        self.replicas = replicas
        self.port = int(self.env.get("LIVEVOTE_PORT", "8000"))
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.processes: dict[str, ServiceProcess] = {}
        for service in SERVICES:
            for index in range(replicas):
                name = service if index == 0 else f"{service}#{index + 1}"
                self.processes[name] = ServiceProcess(
                    service, {**self.env, **self._own_env(service)}, output, name
                )

    def _own_env(self, service: str) -> dict[str, str]:
        if service != "gateway":
            return {"LIVEVOTE_HEALTH_PORT": str(free_port())}
        if self.replicas == 1:
            return {}
        return {"LIVEVOTE_SHARE_PORT": "true", "LIVEVOTE_REPLICA_PORT": str(free_port())}

    def of(self, service: str) -> list[ServiceProcess]:
        """The processes of ``service``, first replica first."""
        return [p for p in self.processes.values() if p.service == service]

    def gateway_urls(self) -> list[str]:
        """Each gateway replica's own base URL."""
        return [p.ready_url.removesuffix("/readyz") for p in self.of("gateway")]

    def start(self, timeout: float = 60.0) -> None:
        for process in self.processes.values():
            process.start()
        self.wait_ready(timeout)

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()

    def wait_ready(self, timeout: float = 60.0, services: tuple[str, ...] = SERVICES) -> None:
        """Until every running process of the named services says it is ready, the shared
        port serves HTTP and every named service answers a ping through the broker."""
        deadline = time.monotonic() + timeout
        while True:
            chosen = [p for p in self.processes.values() if p.service in services]
            dead = [p.name for p in chosen if not p.running]
            if dead:
                raise RuntimeError(f"service process(es) exited: {', '.join(dead)}")
            urls = [f"{self.base_url}/readyz", *(p.ready_url for p in chosen)]
            if all(map(_ready, urls)) and asyncio.run(self._all_answer(services)):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the system was not ready within {timeout}s")
            time.sleep(0.2)

    async def _all_answer(self, services: tuple[str, ...]) -> bool:
        settings = RuntimeSettings(
            rabbitmq_url=self.env.get("LIVEVOTE_RABBITMQ_URL", RuntimeSettings().rabbitmq_url),
            namespace=self.env.get("LIVEVOTE_NAMESPACE", "livevote"),
        )
        bus = Bus(settings, "launcher")
        try:
            await bus.start()
            for service in services:
                await bus.request(service, Envelope.wrap(Ping()), timeout=2.0)
        except (ServiceUnavailable, OSError, ConnectionError):
            return False
        finally:
            await bus.stop()
        return True


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _stack_answers() -> bool:
    status = subprocess.run([STACK, "status"], capture_output=True, text=True, check=True).stdout
    return "down" not in status


@contextmanager
def local_stack() -> Iterator[None]:
    """The local stack for the duration of the block; stopped after only if we started it."""
    started_here = not _stack_answers()
    subprocess.run([STACK, "up"], check=True)
    try:
        yield
    finally:
        if started_here:
            subprocess.run([STACK, "down"], check=False)


@contextmanager
def local_fcm() -> Iterator[FakeFcm]:
    """The fake FCM server on its usual port for the block, unless one answers there."""
    fcm = FakeFcm()
    started_here = not fcm.answers()
    if started_here:
        fcm.start()
    try:
        yield fcm
    finally:
        if started_here:
            fcm.stop()


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m scripts.launch", description=__doc__)
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="processes of each service (default 1; production runs at least 2)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)
    env = dict(os.environ)
    env.setdefault("LIVEVOTE_ADMIN_EMAIL", DEFAULT_ADMIN_EMAIL)
    env.setdefault("LIVEVOTE_ADMIN_PASSWORD", DEFAULT_ADMIN_PASSWORD)
    env.setdefault("LIVEVOTE_LOG_FORMAT", "console")
    # Every gateway replica must accept the tokens any of them signed.
    env.setdefault("LIVEVOTE_JWT_SECRET", secrets.token_urlsafe(48))
    # Payments go to the local stack's stripe-mock unless told otherwise.
    env.setdefault("LIVEVOTE_STRIPE_API_BASE", LOCAL_STRIPE)
    env.setdefault("LIVEVOTE_STRIPE_WEBHOOK_SECRET", LOCAL_WEBHOOK_SECRET)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with local_stack(), local_fcm() as fcm:
        # Pushes go to the local FCM server unless told otherwise.
        env.setdefault("LIVEVOTE_FCM_URL", fcm.url)
        system = System(env, replicas=arguments.replicas)
        try:
            system.start()
            print(_welcome(system), flush=True)
            while not stop.wait(0.5):
                dead = [s for s, p in system.processes.items() if not p.running]
                if dead:
                    print(f"service(s) exited: {', '.join(dead)}; stopping", file=sys.stderr)
                    return 1
            return 0
        finally:
            print("stopping livevote ...", flush=True)
            system.stop()


def _welcome(system: System) -> str:
    env = system.env
    processes = "\n".join(
        f"  {process.name:<12} ready at {process.ready_url}"
        for process in system.processes.values()
    )
    # Where to find the secrets, never the secrets themselves: this output ends up in
    # terminals, CI logs and bug reports.
    return (
        f"\nlivevote is up: the app {system.base_url}/, the admin panel {system.base_url}/admin,\n"
        f"API {system.base_url}/api/v1, docs {system.base_url}/docs\n"
        f"{system.replicas} process(es) of each service:\n{processes}\n"
        f"admin login: {env['LIVEVOTE_ADMIN_EMAIL']}, with the password in "
        "LIVEVOTE_ADMIN_PASSWORD (the README gives the local default)\n"
        f"pushes: to {env['LIVEVOTE_FCM_URL']} (the fake FCM server lists them at /messages)\n"
        f"payments: stripe-mock at {env['LIVEVOTE_STRIPE_API_BASE']}; webhooks are signed with "
        "LIVEVOTE_STRIPE_WEBHOOK_SECRET (scripts/launch.py has the local one)\n"
        "Ctrl-C stops everything this command started.\n"
    )


if __name__ == "__main__":
    sys.exit(main())
