"""The voter's web app in a real browser, on the whole system: an evening of votings
from signing up to the inbox. The operator's part (votings, credits, updates) is done
through the API, as the admin panel would do it."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Locator, Page, Route, expect

from tests.browser.voters import (
    PASSWORD,
    fill_in_login,
    log_in,
    new_account,
    profile_link,
    snapshot,
    stripe_reports_paid,
)
from tests.support import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Votings open on the scheduler's tick and the list is polled: allow for both.
STATUS_CHANGE_MS = 20_000
PHONE = {"width": 375, "height": 740}


# Arranging through the API -------------------------------------------------------------


class Operator:
    """The operator's side of the evening, through the admin API; closes the votings it
    opened when the test ends, so that they do not count against the limit of votings
    open at the same time for the tests that follow."""

    def __init__(self, api: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.api = api
        self.headers = headers
        self.opened: list[str] = []

    async def voting(
        self, kind: str, options: list[str], opens_in: float = 0.5, lasts: float = 900
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        created = await self.api.post(
            "/admin/votings",
            headers=self.headers,
            json={
                "title": f"{'Paid' if kind == 'paid' else 'Free'} vote {uuid.uuid4().hex[:8]}",
                "description": "Tonight's final: pick the act you liked best.",
                "options": options,
                "kind": kind,
                "opens_at": (now + timedelta(seconds=opens_in)).isoformat(),
                "closes_at": (now + timedelta(seconds=lasts)).isoformat(),
            },
        )
        assert created.status_code == 201, created.text
        voting: dict[str, Any] = created.json()
        self.opened.append(voting["id"])
        return voting

    async def grant(self, user_id: str, amount: int) -> None:
        granted = await self.api.post(
            f"/admin/users/{user_id}/credits",
            headers={**self.headers, "Idempotency-Key": uuid.uuid4().hex},
            json={"amount": amount, "reason": "A gift for tonight's show"},
        )
        assert granted.status_code in (200, 201), granted.text

    async def audience(self) -> int:
        answer = await self.api.get("/admin/updates/audience", headers=self.headers)
        assert answer.status_code == 200, answer.text
        return int(answer.json()["audience"])

    async def update(self, title: str, body: str) -> None:
        sent = await self.api.post(
            "/admin/updates", headers=self.headers, json={"title": title, "body": body}
        )
        assert sent.status_code == 202, sent.text

    async def close(self, voting: dict[str, Any]) -> None:
        closed = await self.api.post(f"/admin/votings/{voting['id']}/close", headers=self.headers)
        assert closed.status_code == 200, closed.text

    async def close_all(self) -> None:
        for voting_id in self.opened:
            # Best effort: a voting that has not opened yet is cancelled instead.
            closed = await self.api.post(f"/admin/votings/{voting_id}/close", headers=self.headers)
            if closed.status_code == 409 and closed.json()["error"]["code"] == "VOTING_NOT_OPEN":
                await self.api.post(f"/admin/votings/{voting_id}/cancel", headers=self.headers)


@pytest_asyncio.fixture(loop_scope="session")
async def operator(api: httpx.AsyncClient, admin: dict[str, str]) -> AsyncIterator[Operator]:
    running = Operator(api, admin)
    yield running
    await running.close_all()


# In the browser ------------------------------------------------------------------------


async def opens(voting_tile: Locator) -> None:
    await expect(voting_tile.get_by_text("Open", exact=True)).to_be_visible(
        timeout=STATUS_CHANGE_MS
    )


def tile(page: Page, voting: dict[str, Any]) -> Locator:
    return page.get_by_role("article", name=voting["title"])


async def vote_for(voting_tile: Locator, option: str) -> None:
    await voting_tile.get_by_role("radio", name=option).check()
    await voting_tile.get_by_role("button", name=re.compile(r"^Vote")).click()


async def switch(page: Page, name: str, on: bool) -> None:
    """Flip a preference on the profile page and wait until it is saved."""
    toggle = page.get_by_role("switch", name=name)
    await toggle.set_checked(on)
    await expect(page.get_by_text(f"{name} {'on' if on else 'off'}. Saved.")).to_be_visible()
    await expect(toggle).to_be_enabled()


async def no_horizontal_scroll(page: Page) -> None:
    width = await page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert width <= 0, f"{page.url} is {width}px wider than the screen"


# The tests ------------------------------------------------------------------------------


async def test_a_new_voter_registers_votes_and_cannot_vote_twice(
    page: Page, browser: Browser, base_url: str, operator: Operator
) -> None:
    free = await operator.voting("free", ["Red", "Blue"], opens_in=6)
    paid = await operator.voting("paid", ["Yes", "No"])

    await page.goto("/")
    await expect(page.get_by_role("heading", level=1)).to_have_text("livevote")
    await page.get_by_role("link", name="Create an account").click()
    await page.get_by_label("Your name").fill("Ada")
    await page.get_by_label("E-mail").fill(f"ada-{uuid.uuid4().hex[:10]}@example.com")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign up").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Votings")

    # Both tiles, with what a voter needs to know; the free one is not open yet.
    free_tile, paid_tile = tile(page, free), tile(page, paid)
    await expect(free_tile).to_contain_text("Free")
    await expect(free_tile).to_contain_text("Tonight's final")
    await expect(free_tile.get_by_text("Scheduled", exact=True)).to_be_visible()
    await expect(free_tile).to_contain_text("Opens in")
    await expect(free_tile.get_by_role("listitem")).to_have_text(["Red", "Blue"])
    await expect(paid_tile).to_contain_text("Paid · 1 credit per vote")
    await expect(paid_tile.get_by_text("Open", exact=True)).to_be_visible()
    await expect(paid_tile).to_contain_text("Closes in")

    await free_tile.get_by_role("button", name=re.compile(r"^Register")).click()
    await expect(free_tile.get_by_text("You are registered")).to_be_visible()

    # It opens while the page is shown, without a reload.
    await opens(free_tile)
    await expect(free_tile).to_contain_text("Closes in")

    # The voter's other device, signed in too, shows the ballot and then stands still:
    # its clock is paused, so it does not learn of the vote cast on the first one.
    elsewhere = await browser.new_context(
        base_url=base_url, storage_state=await page.context.storage_state()
    )
    other_device = await elsewhere.new_page()
    await elsewhere.clock.install()
    await other_device.goto("/")
    other_tile = tile(other_device, free)
    await expect(other_tile.get_by_role("radio", name="Blue")).to_be_visible()
    await elsewhere.clock.pause_at(datetime.now(UTC) + timedelta(seconds=1))

    await vote_for(free_tile, "Red")
    await expect(free_tile.get_by_role("status")).to_have_text("✓ Your vote for Red is counted.")
    await expect(free_tile.get_by_role("radio")).to_have_count(0)

    await vote_for(other_tile, "Blue")
    await expect(other_tile.get_by_role("alert")).to_have_text(
        "You have already voted in this voting. Only one vote per person counts."
    )
    # ...and the tab catches up with the vote that counts.
    await expect(other_tile.get_by_role("status")).to_have_text("✓ You voted for Red.")
    await snapshot(other_device, "already_voted")
    await elsewhere.close()

    await page.reload()
    await expect(free_tile.get_by_role("status")).to_have_text("✓ You voted for Red.")

    # Closed, everyone may see how it ended.
    await operator.close(free)
    await expect(free_tile.get_by_text("Closed", exact=True)).to_be_visible(
        timeout=STATUS_CHANGE_MS
    )
    await free_tile.get_by_role("button", name="See the results").click()
    await expect(free_tile).to_contain_text("1 vote counted")
    red = free_tile.get_by_role("list", name="Results").get_by_role("listitem").first
    await expect(red).to_contain_text("Red (your vote)")
    await expect(red).to_contain_text("1 · 100%")


async def test_paid_votings_can_be_hidden_and_take_a_credit_once_the_operator_grants_some(
    page: Page, api: httpx.AsyncClient, operator: Operator
) -> None:
    email, user_id = await new_account(api)
    paid = await operator.voting("paid", ["Yes", "No"])
    await log_in(page, email)
    paid_tile = tile(page, paid)
    await opens(paid_tile)

    await profile_link(page).click()
    await switch(page, "Show paid votings", on=False)
    await page.get_by_role("link", name="Votings", exact=True).click()
    await expect(page.get_by_text("Paid votings are hidden.")).to_be_visible()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Votings")
    await expect(paid_tile).to_have_count(0)

    await page.get_by_role("link", name="Show them").click()
    await switch(page, "Show paid votings", on=True)
    await page.get_by_role("link", name="Votings", exact=True).click()

    # Without credits: told why, and where to get some.
    await vote_for(paid_tile, "Yes")
    problem = paid_tile.get_by_role("alert")
    await expect(problem).to_contain_text("A vote here costs 1 credit and you do not have enough")
    buy = problem.get_by_role("link", name="Buy credits on your profile page")
    await expect(buy).to_be_visible()
    await snapshot(page, "insufficient_credits")

    await operator.grant(user_id, 3)
    await page.reload()
    await expect(profile_link(page)).to_contain_text("3 credits")

    # The system here confirms a paid vote within the request's wait (201); the answer a
    # busier one gives (202, pending) is made from the real one, to see the app follow the
    # vote to its outcome on its own. No push comes (the vote's request did answer it):
    # the app finds the outcome by asking (GET .../votes/me).
    async def answered_pending(route: Route) -> None:
        answer = await route.fetch()
        assert answer.status in (201, 202), await answer.text()
        await route.fulfill(status=202, json={**await answer.json(), "status": "pending"})

    await page.route(re.compile(r"/api/v1/votings/[^/]+/votes$"), answered_pending)
    await vote_for(paid_tile, "Yes")
    await expect(paid_tile.get_by_role("status")).to_contain_text("Your vote for Yes is pending")
    await expect(paid_tile.get_by_role("status")).to_have_text("✓ Your vote for Yes is counted.")
    await expect(profile_link(page)).to_contain_text("2 credits")

    await profile_link(page).click()
    await expect(page.locator(".balance-number").first).to_have_text("2")
    history = page.get_by_role("table")
    await expect(history.get_by_role("row")).to_have_count(3)  # the header, a grant, a vote
    await expect(history.get_by_role("row").nth(1)).to_contain_text("Paid vote")
    await expect(history.get_by_role("row").nth(2)).to_contain_text("A gift for tonight's show")


async def test_an_update_arrives_as_a_toast_and_waits_in_the_inbox(
    page: Page, api: httpx.AsyncClient, operator: Operator
) -> None:
    email, _ = await new_account(api)
    await log_in(page, email)
    await profile_link(page).click()
    audience = await operator.audience()
    await switch(page, "Updates", on=True)

    # The notifier learns of the consent from an event: send once it has.
    async def consented() -> bool:
        return await operator.audience() > audience

    await eventually(consented, timeout=15, interval=0.2)

    await page.get_by_role("link", name="Votings", exact=True).click()
    inbox_link = page.get_by_role("link", name=re.compile(r"^Inbox"))
    await expect(inbox_link).to_have_text("Inbox")
    first, second = f"Backstage tour {uuid.uuid4().hex[:6]}", f"Encore {uuid.uuid4().hex[:6]}"
    await operator.update(first, "Win a backstage tour after the final.")
    toast = page.get_by_role("status").filter(has_text=first)
    await expect(toast).to_contain_text("Win a backstage tour after the final.")
    await expect(inbox_link).to_have_accessible_name("Inbox (1 unread)")
    await operator.update(second, "The winners sing again at ten.")
    await expect(inbox_link).to_have_accessible_name("Inbox (2 unread)")
    await snapshot(page, "toasts")

    await page.get_by_role("button", name=f'Dismiss "{first}"').click()
    await expect(page.get_by_role("status").filter(has_text=first)).to_have_count(0)

    await inbox_link.click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Inbox")
    await expect(page.get_by_text("2 unread", exact=True)).to_be_visible()
    items = page.get_by_role("listitem").filter(has=page.get_by_role("heading", level=2))
    await expect(items.first).to_contain_text(second)
    await expect(items.nth(1)).to_contain_text(first)

    await items.nth(1).get_by_role("button", name=re.compile("^Mark as read")).click()
    await expect(page.get_by_text("1 unread", exact=True)).to_be_visible()
    await expect(inbox_link).to_have_accessible_name("Inbox (1 unread)")
    await expect(items.nth(1).get_by_role("button")).to_have_count(0)

    await page.get_by_role("button", name="Mark all as read").click()
    await expect(page.get_by_text("All read")).to_be_visible()
    await expect(inbox_link).to_have_accessible_name("Inbox")
    await page.reload()
    await expect(items.first).to_contain_text(second)
    await expect(page.get_by_text("All read")).to_be_visible()


async def test_the_session_survives_a_reload_and_an_expired_one_leads_to_login(
    page: Page, api: httpx.AsyncClient
) -> None:
    email, _ = await new_account(api)
    # A page that needs a session asks for one, then shows itself.
    await page.goto("/profile")
    await expect(page).to_have_url(re.compile(r"/login$"))
    await fill_in_login(page, email)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your profile")

    await page.reload()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your profile")
    await expect(page.get_by_text(email)).to_be_visible()

    # The token's time runs out while the tab is closed.
    await page.evaluate(
        """() => {
            const stored = JSON.parse(localStorage.getItem("livevote.session"));
            stored.expiresAt = Date.now() - 1000;
            localStorage.setItem("livevote.session", JSON.stringify(stored));
        }"""
    )
    await page.reload()
    await expect(page).to_have_url(re.compile(r"/login$"))
    await expect(page.get_by_role("alert")).to_have_text(
        "Your session has expired. Please log in again."
    )

    # A token the server no longer takes (its key changed, say) ends the same way.
    await page.evaluate(
        """() => localStorage.setItem(
            "livevote.session",
            JSON.stringify({ token: "no-longer-valid", expiresAt: Date.now() + 3600000 }),
        )"""
    )
    await page.goto("/notifications")
    await expect(page).to_have_url(re.compile(r"/login$"))
    await expect(page.get_by_role("alert")).to_have_text(
        "Your session has expired. Please log in again."
    )
    await snapshot(page, "session_expired")

    # Logging in again goes back where the voter was; logging out asks for nothing more.
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("Password").press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Inbox")
    await page.get_by_role("button", name="Log out").click()
    await expect(page).to_have_url(re.compile(r"/login$"))
    await expect(page.get_by_role("alert")).to_have_count(0)
    assert await page.evaluate("() => localStorage.getItem('livevote.session')") is None


async def test_buying_credits_goes_to_stripe_and_the_success_page_shows_them_landing(
    page: Page, api: httpx.AsyncClient
) -> None:
    email, user_id = await new_account(api)

    # Stripe's hosted page is outside this closed network: a stand-in proves the redirect.
    async def stripe_checkout(route: Route) -> None:
        await route.fulfill(
            status=200,
            content_type="text/html",
            body="<!doctype html><title>Stripe Checkout</title><h1>Pay with Stripe</h1>",
        )

    await page.route("https://checkout.stripe.com/**", stripe_checkout)

    # The Checkout Session the wallet made, whose id Stripe's webhook will name.
    checkout: dict[str, Any] = {}

    async def note_the_session(route: Route) -> None:
        answer = await route.fetch()
        checkout.update(await answer.json())
        await route.fulfill(response=answer)

    await page.route("**/api/v1/me/credits/checkout", note_the_session)
    await log_in(page, email)
    await profile_link(page).click()
    await expect(page.get_by_role("heading", name="Buy credits")).to_be_visible()
    await expect(page.get_by_text("No credits bought or spent yet.")).to_be_visible()

    await page.get_by_role("button", name=re.compile(r"^Buy 5 credits for")).click()
    await expect(page).to_have_url(re.compile(r"^https://checkout\.stripe\.com/"))
    await expect(page.get_by_role("heading", name="Pay with Stripe")).to_be_visible()

    # Stripe sends the buyer back before (or after) its webhook reaches the wallet.
    await page.goto(f"/credits/success?session_id={checkout['session_id']}")
    await expect(page.get_by_text("Your payment is being confirmed.")).to_be_visible()
    await expect(page.get_by_text("Current balance: 0 credits")).to_be_visible()
    await snapshot(page, "payment_being_confirmed")
    await stripe_reports_paid(api, checkout["session_id"], user_id, "credits-5")
    await expect(page.get_by_text("✓ Payment received: 5 credits added")).to_be_visible()
    await expect(page.get_by_text("Your balance: 5 credits")).to_be_visible()
    await expect(profile_link(page)).to_contain_text("5 credits")
    await snapshot(page, "payment_received")

    await page.goto("/credits/cancelled")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Payment cancelled")
    await page.get_by_role("link", name="Choose a credit pack again").click()
    await expect(page.get_by_role("row").nth(1)).to_contain_text("Bought 5 credits")


async def test_on_a_phone_every_page_fits_the_screen_and_works_by_keyboard(
    page: Page, api: httpx.AsyncClient, operator: Operator
) -> None:
    await page.set_viewport_size(PHONE)
    email, _ = await new_account(api)
    voting = await operator.voting(
        "free", ["A rather long option label to wrap on a small screen", "Short"]
    )
    await page.goto("/login")
    await no_horizontal_scroll(page)

    # By keyboard alone: the fields in order, then Enter.
    await page.get_by_label("E-mail").focus()
    await page.keyboard.type(email)
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Votings")

    voting_tile = tile(page, voting)
    await opens(voting_tile)
    await no_horizontal_scroll(page)
    await voting_tile.get_by_role("radio", name="Short").focus()
    await page.keyboard.press("Space")
    await page.keyboard.press("Tab")
    await expect(voting_tile.get_by_role("button", name=re.compile(r"^Vote"))).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(voting_tile.get_by_role("status")).to_have_text(
        "✓ Your vote for Short is counted."
    )

    # Each page once its content is in: the credit packs, the inbox's answer.
    pages = (
        ("/profile", page.get_by_role("button", name=re.compile(r"^Buy 25 credits"))),
        ("/notifications", page.get_by_text("Nothing here yet.")),
    )
    for path, content in pages:
        await page.goto(path)
        await expect(content).to_be_visible()
        await no_horizontal_scroll(page)
        await snapshot(page, f"phone_{path.strip('/')}")
    await page.goto("/")
    await expect(voting_tile).to_be_visible()
