"""Receipts in the voter's web app: the profile's credit history links each purchase to
its receipt, and the link saves the PDF."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.browser.voters import log_in, new_account, profile_link, snapshot, stripe_reports_paid
from tests.support import pdf_text

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_purchase_in_the_credit_history_has_a_receipt_that_downloads_as_a_pdf(
    page: Page, api: httpx.AsyncClient
) -> None:
    email, user_id = await new_account(api)
    await stripe_reports_paid(api, f"cs_test_{uuid.uuid4().hex}", user_id, "credits-5")

    await log_in(page, email)
    await profile_link(page).click()
    purchase = page.get_by_role("row").filter(has_text="Bought 5 credits")
    receipt = purchase.get_by_role("link", name=re.compile(r"^Receipt LV-"))
    await expect(receipt).to_have_text("Receipt")
    await snapshot(page, "credit_history_with_receipts")

    async with page.expect_download() as downloading:
        await receipt.click()
    download = await downloading.value
    assert re.fullmatch(r"livevote-LV-\d{8}-P-[A-Z2-7]{12}\.pdf", download.suggested_filename)
    pdf = await asyncio.to_thread(Path(await download.path()).read_bytes)
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    assert email in text and "5 credits" in text and "EUR 5.00" in text
    # No error in the page either.
    await expect(page.get_by_role("alert")).to_have_count(0)
