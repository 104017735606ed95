"""The credit journal the daily archive reads: every user's credit changes in time order,
from the wallet's own events as they come back from the broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts.wallet import (
    AccountOpened,
    CreditChanges,
    CreditsDebited,
    CreditsPurchased,
    CreditsRefunded,
    CreditsReleased,
    CreditsReserved,
    GrantCredits,
    ListCreditChanges,
)
from services.wallet.credit_changes import change_key, credit_change
from tests.support import eventually
from tests.wallet.conftest import Wallets

AT = datetime(2030, 5, 17, 18, 0, 0, 123456, tzinfo=UTC)


def test_each_credit_event_is_a_line_saying_what_it_did_to_the_balance() -> None:
    hold = {"user_id": "u1", "reservation_id": "vote-1", "voting_id": "v1", "amount": 1}
    lines = [
        credit_change(event, f"e{n}", AT)
        for n, event in enumerate(
            [
                CreditsPurchased(user_id="u1", amount=10, pack_id="credits-10", session_id="cs_1"),
                CreditsReserved(**hold, expires_at=AT),
                CreditsDebited(**hold),
                CreditsReleased(**hold, reason="timeout"),
                CreditsRefunded(user_id="u1", amount=10, session_id="cs_1", refund_id="re_1"),
            ]
        )
    ]
    assert [
        (c.kind, c.amount, c.balance_change, c.voting_id, c.reference, c.reason)
        for c in lines
        if c is not None
    ] == [
        ("purchase", 10, 10, None, "cs_1", "pack credits-10"),
        ("reserve", 1, 0, "v1", "vote-1", "held for a paid vote"),
        ("debit", 1, -1, "v1", "vote-1", "paid vote"),
        ("release", 1, 0, "v1", "vote-1", "timeout"),
        ("refund", 10, -10, None, "cs_1", "refund re_1"),
    ]
    assert credit_change(AccountOpened(user_id="u1"), "e9", AT) is None
    # Keys sort as the moments do, then by event.
    assert (
        change_key(AT, "b") < change_key(AT, "c") < change_key(AT + timedelta(microseconds=1), "a")
    )
    assert change_key(AT, "e1") == "2030-05-17T18:00:00.123456Z/e1"


async def test_the_days_changes_come_in_time_order_a_page_at_a_time(wallets: Wallets) -> None:
    since = datetime.now(UTC)
    for n, user in enumerate(["ada", "bob", "cy", "ada", "bob"]):
        await wallets.ok(GrantCredits(user_id=user, amount=n + 1, reason="gift", granted_by="op"))
    until = datetime.now(UTC) + timedelta(seconds=1)

    async def page(after: str | None = None, limit: int = 100) -> CreditChanges:
        query = ListCreditChanges(since=since, until=until, after=after, limit=limit)
        return CreditChanges.model_validate(await wallets.ok(query))

    async def all_recorded() -> bool:
        return len((await page()).items) == 5

    await eventually(all_recorded)
    whole = (await page()).items
    assert [(c.user_id, c.amount, c.kind, c.reference) for c in whole] == [
        ("ada", 1, "grant", "op"),
        ("bob", 2, "grant", "op"),
        ("cy", 3, "grant", "op"),
        ("ada", 4, "grant", "op"),
        ("bob", 5, "grant", "op"),
    ]
    first = await page(limit=2)
    second = await page(first.next_cursor, limit=2)
    third = await page(second.next_cursor, limit=2)
    assert [*first.items, *second.items, *third.items] == whole
    assert third.next_cursor is None
    # Nothing outside the window.
    earlier = ListCreditChanges(since=since - timedelta(hours=1), until=since)
    assert CreditChanges.model_validate(await wallets.ok(earlier)).items == []

    # An event that comes again is one line; a rebuild from the store gives the same.
    [granted] = [e for e in await wallets.wallet.store.read("account-cy") if "Granted" in e.type]
    again = await wallets.publish(granted)
    await wallets.handled.all(granted, again)
    assert (await page()).items == whole
    await wallets.wallet.journal.rebuild(wallets.wallet.store)
    assert (await page()).items == whole
