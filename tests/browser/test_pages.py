"""The front end is served by the gateway, on the API's origin."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_the_app_and_the_admin_panel_are_served_at_their_paths(page: Page) -> None:
    await page.goto("/")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("livevote")
    await page.goto("/admin")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("admin")
