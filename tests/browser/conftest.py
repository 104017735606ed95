"""The web app and the admin panel in a real browser (Debian's Chromium, driven by
Playwright) against the whole system, every service a process as `make run` starts it.

The tests are async and share the session's event loop with the browser
(``pytestmark = pytest.mark.asyncio(loop_scope="session")`` in each module). Each test
leaves a screenshot of its last screen in ``test-output/screenshots`` and fails
if the page wrote an error to the browser console or threw.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, ConsoleMessage, Page, Playwright, async_playwright

from scripts.fake_fcm import FakeFcm
from tests.conftest import Servers
from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, RunningSystem, start_system, stop_system

ROOT = Path(__file__).resolve().parents[2]
# The build the gateway serves (its setting LIVEVOTE_WEB_DIR; `make web` writes web/dist).
WEB_DIR = Path(os.environ.get("LIVEVOTE_WEB_DIR") or ROOT / "web" / "dist")
SCREENSHOTS = ROOT / "test-output" / "screenshots"
WEBHOOK_SECRET = "whsec_browser_tests"

# Chromium logs every fetch answered 4xx as a console error; the pages show those answers
# to the user (an "already voted" is a 409), so they are not errors of the page.
_EXPECTED_HTTP = re.compile(
    r"^Failed to load resource: the server responded with a status of 4\d\d"
)


def _chromium() -> str:
    for name in ("chromium-headless-shell", "chromium"):
        found = shutil.which(name) or shutil.which(name, path="/usr/lib/chromium")
        if found:
            return found
    pytest.fail("Debian's chromium is not installed: apt-get install chromium-headless-shell")


# The plugin's session fixtures, on the session's loop (the suite's default loop scope is
# the function, which a session fixture cannot use).
@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as running:
        yield running


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(launch_browser: Callable[[], Awaitable[Browser]]) -> AsyncIterator[Browser]:
    browser = await launch_browser()
    yield browser
    await browser.close()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    # Playwright's own browser download cannot be reached; the Debian build is used, with
    # its background connections (updates, sync) off on this closed network.
    return {
        **browser_type_launch_args,
        "executable_path": _chromium(),
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="session")
def web(
    servers: Servers, fake_fcm: FakeFcm, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSystem]:
    """The whole system serving the built front end (``make web``)."""
    log_dir = tmp_path_factory.mktemp("browser")
    with serving_the_front_end(
        servers,
        lambda: start_system(
            servers,
            log_dir,
            LIVEVOTE_FCM_URL=fake_fcm.url,
            LIVEVOTE_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        ),
    ) as running:
        yield running


@contextlib.contextmanager
def serving_the_front_end(
    servers: Servers, start: Callable[[], RunningSystem]
) -> Iterator[RunningSystem]:
    """The system ``start`` starts, which serves the built front end, until the block ends."""
    if not (WEB_DIR / "index.html").is_file():
        pytest.fail(f"the front end is not built in {WEB_DIR}: run `make web`")
    # In a thread of its own: Playwright's sync API keeps an event loop running in this one,
    # and starting and stopping the system runs loops of its own.
    with ThreadPoolExecutor(1) as thread:
        running = thread.submit(start).result()
        try:
            yield running
        finally:
            thread.submit(stop_system, running, servers).result()


@pytest.fixture(scope="session")
def base_url(web: RunningSystem) -> str:
    return web.system.base_url


@pytest_asyncio.fixture(loop_scope="session")
async def api(web: RunningSystem) -> AsyncIterator[httpx.AsyncClient]:
    """The public API, for what a test arranges outside the browser."""
    async with httpx.AsyncClient(base_url=web.api, timeout=30) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def admin(api: httpx.AsyncClient) -> dict[str, str]:
    """The operator's request headers (bearer token)."""
    answer = await api.post("/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest_asyncio.fixture(loop_scope="session")
async def page(page: Page, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """The test's page; fails the test on console errors, and keeps a screenshot of the
    last screen, pass or fail."""
    async with watched(page, request.node.name):
        yield page


@contextlib.asynccontextmanager
async def watched(page: Page, test_name: str) -> AsyncIterator[Page]:
    """``page``, failing on errors written to its console and screenshotted at the end."""
    errors: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and not _EXPECTED_HTTP.match(message.text):
            errors.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    try:
        yield page
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        await page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
    assert not errors, f"the browser console has errors: {errors}"
