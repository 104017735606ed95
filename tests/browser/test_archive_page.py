"""The daily archive in the admin panel, in a real browser, on a system of its own whose
days last a few seconds: a voting ends, its day is archived, and the operator finds the
day with its files on the Archive page and downloads the voting's file."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from scripts.fake_fcm import FakeFcm
from tests.browser.conftest import serving_the_front_end, watched
from tests.conftest import Servers
from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, RunningSystem, login
from tests.e2e.paid import open_voting, user_with_credits, vote
from tests.e2e.test_archive import start_archiving
from tests.support import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

SLOW = 30_000


@pytest.fixture(scope="module")
def archiving(
    servers: Servers, fake_fcm: FakeFcm, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSystem]:
    """The whole system with short days, serving the built front end."""
    log_dir = tmp_path_factory.mktemp("browser-archive")
    with serving_the_front_end(
        servers, lambda: start_archiving(servers, log_dir, fake_fcm.url)
    ) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def operator(
    browser: Browser, archiving: RunningSystem, request: pytest.FixtureRequest
) -> AsyncIterator[Page]:
    """A page of this system's panel, the operator logged in."""
    context = await browser.new_context(base_url=archiving.system.base_url)
    page = await context.new_page()
    try:
        async with watched(page, request.node.name):
            await page.goto("/admin")
            await page.get_by_label("E-mail", exact=True).fill(ADMIN_EMAIL)
            await page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
            await page.get_by_role("button", name="Log in").click()
            await expect(page.get_by_role("navigation", name="Admin sections")).to_be_visible()
            yield page
    finally:
        await context.close()


async def test_the_operator_finds_a_day_and_its_files_and_downloads_one(
    operator: Page, archiving: RunningSystem
) -> None:
    page = operator
    async with httpx.AsyncClient(base_url=archiving.api, timeout=30) as api:
        admin = await login(api, ADMIN_EMAIL, ADMIN_PASSWORD)
        _, voter = await user_with_credits(api, admin, 0)
        voting = await open_voting(api, admin, kind="free", lasts=2)
        answer = await vote(api, voter, voting, option=1)
        assert answer.status_code == 201, answer.text
        name = f"voting-{voting['id']}.csv"

        async def archived_day() -> str | None:
            listing = (await api.get("/admin/archive", headers=admin)).json()
            days: list[dict[str, Any]] = listing["days"]
            return next((d["day"] for d in days if name in {f["name"] for f in d["files"]}), None)

        day = await eventually(archived_day, timeout=60)

    await page.get_by_role("link", name="Archive", exact=True).click()
    await expect(page.get_by_role("heading", name="Archive", exact=True)).to_be_visible()
    listed = page.get_by_role("region", name=f"Day {day}")
    await expect(listed).to_be_visible(timeout=SLOW)
    files = listed.get_by_role("region", name=f"Files of {day}")
    for file in ("ledger.csv", "notifications.csv", name):
        await expect(files.get_by_role("rowheader", name=file, exact=True)).to_be_visible()

    async with page.expect_download() as downloading:
        await files.get_by_role("button", name=f"Download {name} of {day}").click()
    download = await downloading.value
    assert download.suggested_filename == f"{day}-{name}"
    path = await download.path()
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert [(row["option"], row["votes"]) for row in rows] == [("Yes", "0"), ("No", "1")]
