"""Run the whole system locally: the stack, then every service as its own process.

``python -m scripts.launch`` (what ``make run`` calls) starts what the local stack lacks,
starts gateway, voting, wallet, notifier and scheduler, waits until each answers, prints
where the API is and how to log in, and on Ctrl-C stops everything it started.
The end-to-end tests use :class:`System` to run the same processes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

from contracts import Envelope
from contracts.system import Ping
from contracts.topology import SERVICES
from eventing.bus import Bus, ServiceUnavailable
from eventing.settings import RuntimeSettings

ROOT = Path(__file__).resolve().parent.parent
STACK = str(ROOT / "scripts" / "stack.sh")
DEFAULT_ADMIN_EMAIL = "admin@livevote.dev"
DEFAULT_ADMIN_PASSWORD = "change-me-locally"
LOCAL_STRIPE = "http://127.0.0.1:12111"
# Signs the webhook payloads a developer posts by hand (or `stripe listen` forwards).
LOCAL_WEBHOOK_SECRET = "whsec_local_development_only"


class ServiceProcess:
    """One service as a child process, its output prefixed with its name."""

    def __init__(self, service: str, env: Mapping[str, str], output: IO[str] | None) -> None:
        self.service = service
        self._env = dict(env)
        self._output = output
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.service}"],
            cwd=ROOT,
            env=self._env,
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
                self._output.write(f"{self.service:>9} | {line}")
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
    """All services as processes, sharing one environment (namespace, URLs, port)."""

    def __init__(self, env: Mapping[str, str], output: IO[str] | None = sys.stdout) -> None:
        self.env = dict(env)
        self.processes = {s: ServiceProcess(s, self.env, output) for s in SERVICES}
        self.port = int(self.env.get("LIVEVOTE_PORT", "8000"))
        self.base_url = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        for process in self.processes.values():
            process.start()
        self.wait_ready(timeout)

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()

    def wait_ready(self, timeout: float = 60.0, services: tuple[str, ...] = SERVICES) -> None:
        """Until the gateway serves HTTP and every named service answers a ping."""
        deadline = time.monotonic() + timeout
        while True:
            dead = [s for s, p in self.processes.items() if s in services and not p.running]
            if dead:
                raise RuntimeError(f"service process(es) exited: {', '.join(dead)}")
            if self._gateway_ready() and asyncio.run(self._all_answer(services)):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the system was not ready within {timeout}s")
            time.sleep(0.2)

    def _gateway_ready(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

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


def main() -> int:
    env = dict(os.environ)
    env.setdefault("LIVEVOTE_ADMIN_EMAIL", DEFAULT_ADMIN_EMAIL)
    env.setdefault("LIVEVOTE_ADMIN_PASSWORD", DEFAULT_ADMIN_PASSWORD)
    env.setdefault("LIVEVOTE_LOG_FORMAT", "console")
    # Payments go to the local stack's stripe-mock unless told otherwise.
    env.setdefault("LIVEVOTE_STRIPE_API_BASE", LOCAL_STRIPE)
    env.setdefault("LIVEVOTE_STRIPE_WEBHOOK_SECRET", LOCAL_WEBHOOK_SECRET)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with local_stack():
        system = System(env)
        try:
            system.start()
            print(
                f"\nlivevote is up: API {system.base_url}/api/v1, docs {system.base_url}/docs\n"
                f"admin login: {env['LIVEVOTE_ADMIN_EMAIL']} / {env['LIVEVOTE_ADMIN_PASSWORD']}"
                "  (LIVEVOTE_ADMIN_EMAIL / LIVEVOTE_ADMIN_PASSWORD)\n"
                f"payments: stripe-mock at {env['LIVEVOTE_STRIPE_API_BASE']}, webhook secret "
                f"{env['LIVEVOTE_STRIPE_WEBHOOK_SECRET']}\n"
                f"  curl -s -X POST {system.base_url}/api/v1/auth/login "
                "-H 'content-type: application/json' "
                f'-d \'{{"email": "{env["LIVEVOTE_ADMIN_EMAIL"]}", '
                f'"password": "{env["LIVEVOTE_ADMIN_PASSWORD"]}"}}\'\n'
                "Ctrl-C stops everything this command started.\n",
                flush=True,
            )
            while not stop.wait(0.5):
                dead = [s for s, p in system.processes.items() if not p.running]
                if dead:
                    print(f"service(s) exited: {', '.join(dead)}; stopping", file=sys.stderr)
                    return 1
            return 0
        finally:
            print("stopping livevote ...", flush=True)
            system.stop()


if __name__ == "__main__":
    sys.exit(main())
