"""An operator's evening in the admin panel at /admin, in a real browser on the real
services: votings scheduled, moved, cancelled and closed; results watched while people
vote; an update sent; a user given credits; the system's health, a stopped service and a
dead letter.

The browser runs in São Paulo's time zone (UTC-03:00, no summer time), so the tests also
prove that the panel sends the times typed in datetime-local fields with the browser's
offset. The system is shared by every browser test of the session: votings get short or
far-away windows and are closed or cancelled at the end (at most 16 may overlap).
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aio_pika
import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from contracts import Envelope
from contracts.gateway import PreferencesChanged
from tests.conftest import Servers
from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, RunningSystem, signup_and_login
from tests.e2e.notify import device, user_id
from tests.e2e.paid import open_voting, vote
from tests.support import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

BROWSER_ZONE = ZoneInfo("America/Sao_Paulo")
# Long enough for the system's asynchronous steps (read models, timers, fan-out, RabbitMQ's
# management statistics), which the pages follow by polling.
SLOW = 30_000
CONCURRENCY_CAP = 16


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "timezone_id": "America/Sao_Paulo"}


@pytest_asyncio.fixture(loop_scope="session")
async def operator(page: Page) -> AsyncIterator[Page]:
    """The page, with the operator logged in at /admin."""
    await log_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    await expect(page.get_by_role("navigation", name="Admin sections")).to_be_visible()
    yield page


async def log_in(page: Page, email: str, password: str) -> None:
    await page.goto("/admin")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("admin")
    await page.get_by_label("E-mail", exact=True).fill(email)
    await page.get_by_label("Password", exact=True).fill(password)
    await page.get_by_role("button", name="Log in").click()


def typed(instant: datetime) -> str:
    """What the operator types into a datetime-local field for ``instant`` (browser time)."""
    return instant.astimezone(BROWSER_ZONE).strftime("%Y-%m-%dT%H:%M:%S")


def soon(seconds: float) -> datetime:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0)


async def schedule(
    api: httpx.AsyncClient, admin: dict[str, str], opens: datetime, closes: datetime, title: str
) -> dict[str, Any]:
    created = await api.post(
        "/admin/votings",
        headers=admin,
        json={
            "title": title,
            "description": "",
            "options": ["Yes", "No"],
            "kind": "free",
            "opens_at": opens.isoformat(),
            "closes_at": closes.isoformat(),
        },
    )
    assert created.status_code == 201, created.text
    voting: dict[str, Any] = created.json()
    return voting


async def tile(api: httpx.AsyncClient, admin: dict[str, str], voting_id: str) -> dict[str, Any]:
    answer = await api.get(f"/votings/{voting_id}", headers=admin)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def finish(api: httpx.AsyncClient, admin: dict[str, str], *voting_ids: str) -> None:
    """Free the votings' windows for the other tests: cancel or close, whichever applies."""
    for voting_id in voting_ids:
        status = (await tile(api, admin, voting_id))["status"]
        if status in ("scheduled", "open"):
            action = "cancel" if status == "scheduled" else "close"
            await api.post(f"/admin/votings/{voting_id}/{action}", headers=admin)


async def test_only_an_operator_gets_in_and_finds_every_section_by_keyboard(
    page: Page, api: httpx.AsyncClient
) -> None:
    email = f"plain-{uuid.uuid4().hex[:8]}@example.com"
    created = await api.post(
        "/auth/signup",
        json={"email": email, "password": "correct horse battery", "display_name": "Plain"},
    )
    assert created.status_code == 201, created.text
    await log_in(page, email, "correct horse battery")
    await expect(page.get_by_text("this account is not an operator")).to_be_visible()
    await page.get_by_role("button", name="Log out and use another account").click()

    await log_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    await expect(page).to_have_url(re.compile(r"/admin/votings$"))
    await expect(page.get_by_role("heading", name="Votings", exact=True)).to_be_visible()
    # Keyboard only: Tab from the skip link reaches the sections, Enter follows one.
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    for section in ("Votings", "Updates", "Users", "Health"):
        await page.keyboard.press("Tab")
        await expect(page.get_by_role("link", name=section, exact=True)).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/admin/health$"))
    await expect(page.get_by_role("link", name="Health", exact=True)).to_have_attribute(
        "aria-current", "page"
    )

    # A phone's width: the page does not scroll sideways, the tables scroll in their box.
    await page.set_viewport_size({"width": 380, "height": 800})
    queues = page.get_by_role("region", name="Queues")
    await expect(queues).to_contain_text("voting.commands", timeout=SLOW)
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    box = await queues.bounding_box()
    assert box is not None and box["width"] <= 380


async def test_a_voting_is_scheduled_after_the_apis_field_error_is_fixed(
    operator: Page, api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    page = operator
    title = f"Best act {uuid.uuid4().hex[:6]}"
    opens = soon(600)
    await page.get_by_label("Title", exact=True).fill(title)
    await page.get_by_label("Option 1", exact=True).fill("Red")
    await page.get_by_label("Option 2", exact=True).fill("Blue")
    await page.get_by_role("button", name="Add an option").click()
    await page.get_by_label("Option 3", exact=True).fill("Green")
    await page.get_by_label("Opens at").fill(typed(opens))
    await page.get_by_label("Closes at").fill(typed(opens - timedelta(minutes=1)))
    await page.get_by_role("button", name="Schedule voting").click()

    closes_field = page.get_by_label("Closes at")
    await expect(closes_field).to_have_attribute("aria-invalid", "true")
    await expect(closes_field).to_have_accessible_description(
        re.compile("closing time must be .*after the opening time", re.IGNORECASE)
    )

    await closes_field.fill(typed(opens + timedelta(minutes=2)))
    await page.get_by_role("button", name="Schedule voting").click()
    await expect(page.get_by_role("status")).to_contain_text(f"Scheduled “{title}”")
    row = page.get_by_role("row").filter(has_text=title)
    await expect(row).to_contain_text("Scheduled")

    [voting] = [v for v in (await api.get("/votings", headers=admin)).json() if v["title"] == title]
    try:
        # Typed as São Paulo time, sent with its offset: the very instant meant.
        assert datetime.fromisoformat(voting["opens_at"]) == opens
        assert datetime.fromisoformat(voting["closes_at"]) == opens + timedelta(minutes=2)
        assert [o["label"] for o in voting["options"]] == ["Red", "Blue", "Green"]
    finally:
        await finish(api, admin, voting["id"])


async def test_the_concurrency_cap_is_explained_in_plain_words(
    operator: Page, api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    page = operator
    # A window of its own, far away from every other test's votings.
    opens = soon(400 * 86400 + uuid.uuid4().int % 50_000 * 60)
    closes = opens + timedelta(minutes=1)
    tag = uuid.uuid4().hex[:6]
    full = [
        (await schedule(api, admin, opens, closes, f"Full {tag} {n}"))["id"]
        for n in range(CONCURRENCY_CAP)
    ]
    try:
        await page.get_by_label("Title", exact=True).fill(f"One too many {tag}")
        await page.get_by_label("Option 1", exact=True).fill("Yes")
        await page.get_by_label("Option 2", exact=True).fill("No")
        await page.get_by_label("Opens at").fill(typed(opens))
        await page.get_by_label("Closes at").fill(typed(closes))
        await page.get_by_role("button", name="Schedule voting").click()
        await expect(page.get_by_role("alert")).to_contain_text(
            f"livevote runs at most {CONCURRENCY_CAP} votings at the same time"
        )
    finally:
        await asyncio.gather(*(finish(api, admin, voting_id) for voting_id in full))


async def test_a_voting_is_rescheduled_then_cancelled_and_another_closed_early(
    operator: Page, api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    page = operator
    tag = uuid.uuid4().hex[:6]
    later = await schedule(api, admin, soon(600), soon(720), f"Later {tag}")
    running = await open_voting(api, admin, kind="free", lasts=300)
    try:
        await page.get_by_role("link", name=f"Later {tag}").click()
        await expect(page.get_by_role("heading", name=f"Later {tag}")).to_contain_text("Scheduled")
        moved = soon(1200)
        await page.get_by_label("Opens at").fill(typed(moved))
        await page.get_by_label("Closes at").fill(typed(moved + timedelta(minutes=3)))
        await page.get_by_role("button", name="Save new times").click()
        await expect(page.get_by_text("The voting was rescheduled.")).to_be_visible()
        after = await tile(api, admin, later["id"])
        assert datetime.fromisoformat(after["opens_at"]) == moved
        assert datetime.fromisoformat(after["closes_at"]) == moved + timedelta(minutes=3)

        await page.get_by_role("button", name="Cancel voting").click()
        await page.get_by_role("button", name="Yes, cancel it").click()
        await expect(page.get_by_role("heading", name=f"Later {tag}")).to_contain_text("Cancelled")
        await expect(page.get_by_text("nothing about it can be changed")).to_be_visible()

        await page.goto(f"/admin/votings/{running['id']}")
        await expect(page.get_by_role("heading", level=2)).to_contain_text("Open")
        await page.get_by_role("button", name="Close now").click()
        await page.get_by_role("button", name="Yes, close it now").click()
        await expect(page.get_by_role("heading", level=2)).to_contain_text("Closed")
        assert (await tile(api, admin, running["id"]))["status"] == "closed"
    finally:
        await finish(api, admin, later["id"], running["id"])


async def test_results_move_while_people_vote_and_are_exported_as_csv(
    operator: Page, api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    page = operator
    voters = await asyncio.gather(*(signup_and_login(api) for _ in range(3)))
    voting = await open_voting(api, admin, kind="free", lasts=300)
    try:
        await page.goto(f"/admin/votings/{voting['id']}")
        total = page.get_by_test_id("results-total")
        await expect(total).to_have_text("0")
        # Each vote shows up on the open page: no reload, the page asks every second.
        for counted, (voter, option) in enumerate(zip(voters, (0, 0, 1), strict=True), 1):
            cast = await vote(api, voter, voting, option)
            assert cast.status_code == 201, cast.text
            await expect(total).to_have_text(str(counted), timeout=SLOW)
        per_option = page.get_by_role("region", name="Votes per option")
        await expect(per_option.get_by_role("row").filter(has_text="Yes")).to_contain_text("2")
        await expect(per_option.get_by_role("row").filter(has_text="No")).to_contain_text("1")
        chart = page.get_by_role("img", name=re.compile("Votes per option"))
        await expect(chart).to_have_attribute("aria-label", "Votes per option: Yes: 2, No: 1")

        async with page.expect_download() as downloading:
            await page.get_by_role("button", name="Export results as CSV").click()
        download = await downloading.value
        assert download.suggested_filename == f"results-{voting['id']}.csv"
        exported = (await download.path()).read_text(encoding="utf-8")
        rows = list(csv.reader(io.StringIO(exported)))
        options = voting["options"]
        assert rows == [
            ["option_id", "label", "votes"],
            [options[0]["id"], "Yes", "2"],
            [options[1]["id"], "No", "1"],
        ]
    finally:
        await finish(api, admin, voting["id"])


async def _audience(api: httpx.AsyncClient, admin: dict[str, str]) -> int:
    answer = await api.get("/admin/updates/audience", headers=admin)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["audience"])


async def test_an_update_shows_its_audience_before_and_its_delivery_after(
    operator: Page, api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    page = operator
    before = await _audience(api, admin)
    reader = await signup_and_login(api)
    await device(api, reader, f"browser-{uuid.uuid4().hex}")
    changed = await api.patch("/me/preferences", headers=reader, json={"updates": True})
    assert changed.status_code == 200, changed.text

    async def reader_counted() -> int | None:
        audience = await _audience(api, admin)
        return audience if audience > before else None

    audience = await eventually(reader_counted, timeout=30)
    tag = uuid.uuid4().hex[:6]
    about = await schedule(api, admin, soon(600), soon(660), f"Final {tag}")
    try:
        title = await _send_update(page, audience, about)
    finally:
        await finish(api, admin, about["id"])
    inbox = (await api.get("/me/notifications", headers=reader)).json()["items"]
    assert [(n["kind"], n["voting_id"]) for n in inbox if n["title"] == title] == [
        ("update", about["id"])
    ]


async def _send_update(page: Page, audience: int, about: dict[str, Any]) -> str:
    """Compose and send an update about the voting ``about``; its title."""
    await page.get_by_role("link", name="Updates", exact=True).click()
    await expect(page.get_by_text(f"this update would reach {audience} user")).to_be_visible(
        timeout=SLOW
    )

    title = f"Tonight's final {uuid.uuid4().hex[:6]}"
    await page.get_by_label("Title", exact=True).fill(title)
    await page.get_by_label("Message").fill("Doors open at 18:00.")
    await page.get_by_label("About a voting").select_option(label=f"{about['title']} (scheduled)")
    await page.get_by_role("button", name="Send update").click()

    await expect(page).to_have_url(re.compile(r"/admin/updates/[^/]+$"))
    await expect(page.get_by_role("heading", level=2)).to_contain_text(title)
    await expect(page.get_by_role("status")).to_contain_text("Delivered: done.", timeout=SLOW)
    await expect(page.get_by_text(f"of {audience} user")).to_be_visible()

    def counter(label: str) -> Any:
        return page.locator(".counters > div").filter(has_text=label).locator("dd")

    await expect(counter("Audience")).to_have_text(str(audience))
    assert int(await counter("Pushed to devices").inner_text()) >= 1
    for label in ("Shown in the app", "Failed pushes", "Dead device tokens removed"):
        await expect(counter(label)).to_have_text(re.compile(r"^\d+$"))
    return title


async def test_the_operator_finds_a_user_by_email_and_grants_credits(
    operator: Page, api: httpx.AsyncClient
) -> None:
    page = operator
    email = f"support-{uuid.uuid4().hex[:8]}@example.com"
    created = await api.post(
        "/auth/signup",
        json={"email": email, "password": "correct horse battery", "display_name": "Grace"},
    )
    assert created.status_code == 201, created.text

    await page.get_by_role("link", name="Users", exact=True).click()
    await page.get_by_label("E-mail address").fill(email.upper())
    await page.get_by_label("E-mail address").press("Enter")
    await page.get_by_role("link", name=email).click()
    await expect(page.get_by_role("heading", name="Grace")).to_be_visible()
    await expect(page.get_by_test_id("credits-available")).to_have_text("0")
    await expect(page.get_by_text("No credit changes yet.")).to_be_visible()

    reason = f"a goodwill gesture {uuid.uuid4().hex[:6]}"
    await page.get_by_label("Credits", exact=True).fill("5")
    await page.get_by_label("Reason").fill(reason)
    await page.get_by_role("button", name="Grant credits").click()
    await expect(page.get_by_role("status")).to_contain_text("The new balance is 5 credits")
    await expect(page.get_by_test_id("credits-available")).to_have_text("5")
    line = page.get_by_role("region", name="Ledger").get_by_role("row").filter(has_text=reason)
    await expect(line).to_contain_text("grant")
    await expect(line).to_contain_text("+5")


async def test_a_stopped_service_goes_down_on_the_health_page_and_comes_back_up(
    operator: Page, web: RunningSystem
) -> None:
    page = operator
    await page.get_by_role("link", name="Health", exact=True).click()
    scheduler = page.get_by_test_id("service-scheduler")
    await expect(scheduler).to_contain_text("Up", timeout=SLOW)
    await expect(page.get_by_role("region", name="Queues")).to_contain_text("scheduler.commands")

    process = web.system.processes["scheduler"]
    await asyncio.to_thread(process.stop)
    try:
        await expect(scheduler).to_contain_text("Down", timeout=SLOW)
        await expect(page.get_by_text("Down: scheduler.")).to_be_visible()
    finally:
        process.start()
        await asyncio.to_thread(web.system.wait_ready, 60.0, ("scheduler",))
    await expect(scheduler).to_contain_text("Up", timeout=SLOW)
    await expect(page.get_by_text("Every service is up.")).to_be_visible()


async def test_a_dead_letter_is_shown_with_its_type_and_reason_and_replayed(
    operator: Page,
    web: RunningSystem,
    servers: Servers,
    api: httpx.AsyncClient,
    admin: dict[str, str],
) -> None:
    page = operator
    namespace = web.namespace
    reader = await signup_and_login(api)
    reader_id = await user_id(api, reader)
    before = await _audience(api, admin)
    unreadable_id = f"unreadable-{uuid.uuid4().hex[:8]}"
    # The reader's consent to updates, dead-lettered by the notifier's queue (stamped as
    # RabbitMQ stamps it) while its cause stood: it is applied once replayed.
    consent = Envelope.wrap(
        PreferencesChanged(user_id=reader_id, reminders=False, updates=True, show_paid=True)
    )
    connection = await aio_pika.connect(servers.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        # Not JSON: the notifier refuses it at once and RabbitMQ dead-letters it.
        events = await channel.get_exchange(f"{namespace}.events")
        await events.publish(
            aio_pika.Message(b"not json", message_id=unreadable_id, type="gateway.Nonsense"),
            routing_key=PreferencesChanged.routing_key,
        )
        death = {"queue": f"{namespace}.notifier.events", "reason": "delivery_limit", "count": 1}
        await channel.default_exchange.publish(
            aio_pika.Message(
                consent.model_dump_json().encode(),
                message_id=consent.message_id,
                type=consent.type,
                content_type="application/json",
                headers={"x-death": [death]},
            ),
            routing_key=f"{namespace}.dead-letters",
        )

    await page.get_by_role("link", name="Health", exact=True).click()
    letters = page.get_by_role("region", name="Dead letters")
    unreadable = letters.get_by_role("row").filter(has_text="gateway.Nonsense")
    await expect(unreadable).to_contain_text("rejected", timeout=SLOW)
    await expect(unreadable).to_contain_text("notifier.events")
    consent_row = letters.get_by_role("row").filter(has_text=reader_id)
    await expect(consent_row).to_contain_text("gateway.PreferencesChanged")
    await expect(consent_row).to_contain_text("delivery_limit")

    await page.get_by_role("button", name="Replay dead letters").click()
    await expect(page.get_by_role("status").filter(has_text="Replayed")).to_contain_text(
        re.compile(r"Replayed \d+ dead letters?")
    )
    # The consent is applied this time; the unreadable message may well die again.
    await expect(consent_row).to_have_count(0, timeout=SLOW)

    async def reader_counted() -> bool:
        return await _audience(api, admin) == before + 1

    await eventually(reader_counted, timeout=30)
