"""schemathesis against the live gateway: every operation of the OpenAPI schema with
generated requests, as a user and as the operator, every check on (schemathesis.toml
names the few a schema cannot make meaningful). No server error, and every answer as
the schema says."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, RunningSystem, login, signup_and_login

pytestmark = pytest.mark.e2e

# Generated requests per operation and caller: about 3,000 in all.
EXAMPLES = 25
CONFIG = Path(__file__).with_name("schemathesis.toml")


def _schemathesis(running: RunningSystem, authorization: str) -> subprocess.CompletedProcess[str]:
    command = shutil.which("schemathesis", path=f"{sys.prefix}/bin") or "schemathesis"
    return subprocess.run(
        [
            command,
            "--config-file",
            str(CONFIG),
            "run",
            f"{running.system.base_url}/openapi.json",
            "--max-examples",
            str(EXAMPLES),
            "--header",
            f"Authorization: {authorization}",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )


@pytest.mark.parametrize("caller", ["user", "operator"])
async def test_every_operation_answers_as_documented(
    own_system: RunningSystem, caller: str
) -> None:
    # A system of its own: the fuzzer's stateful phase feeds e-mail addresses it was
    # shown (the operator's among them) to the login with wrong passwords, and may lock
    # that account for the tests that come after, as the abuse limits should.
    running = own_system
    async with httpx.AsyncClient(base_url=running.api, timeout=15) as http:
        if caller == "user":
            headers = await signup_and_login(http)
        else:
            headers = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
    run = await asyncio.to_thread(_schemathesis, running, headers["Authorization"])
    print(run.stdout[-6000:])
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-2000:]
