"""A voter's account and moves in the web app, shared by the browser tests."""

from __future__ import annotations

import re
import uuid

import httpx
from playwright.async_api import Locator, Page, expect

from scripts.stripe_events import delivery, paid_checkout
from tests.browser.conftest import SCREENSHOTS, WEBHOOK_SECRET

PASSWORD = "correct horse battery"

# Through the API -------------------------------------------------------------------------


async def new_account(api: httpx.AsyncClient) -> tuple[str, str]:
    """A voter signed up through the API: their e-mail address and user id."""
    email = f"voter-{uuid.uuid4().hex[:10]}@example.com"
    created = await api.post(
        "/auth/signup", json={"email": email, "password": PASSWORD, "display_name": "Ada"}
    )
    assert created.status_code == 201, created.text
    return email, str(created.json()["id"])


async def stripe_reports_paid(
    api: httpx.AsyncClient, session_id: str, user_id: str, pack_id: str
) -> None:
    body, headers = delivery(paid_checkout(session_id, user_id, pack_id), WEBHOOK_SECRET)
    answer = await api.post("/stripe/webhook", content=body, headers=headers)
    assert answer.status_code == 200, answer.text


# In the browser ------------------------------------------------------------------------


async def fill_in_login(page: Page, email: str) -> None:
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()


async def log_in(page: Page, email: str) -> None:
    await page.goto("/login")
    await fill_in_login(page, email)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Votings")


def profile_link(page: Page) -> Locator:
    """The header's link to the profile, which also shows the credits."""
    return page.get_by_role("link", name=re.compile(r"^Profile"))


async def snapshot(page: Page, name: str) -> None:
    """A screenshot of a moment the test's last screen does not show."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / f"voter_{name}.png", full_page=True)
