"""The credit changes the daily archive reads: every user's, of a time window, from the
wallet's event store in the order they were stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts.wallet import (
    AccountOpened,
    CreditChange,
    CreditChanges,
    CreditsDebited,
    CreditsPurchased,
    CreditsRefunded,
    CreditsReleased,
    CreditsReserved,
    GrantCredits,
    ListCreditChanges,
)
from services.wallet.credit_changes import credit_change
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


async def test_the_days_changes_come_in_the_order_stored_a_page_at_a_time(wallets: Wallets) -> None:
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
    # A page looks at a few commits (an account's opening among them) and may hold fewer
    # changes; the pages together hold each change once, in the same order.
    paged: list[CreditChange] = []
    cursor: str | None = None
    for _ in range(20):
        part = await page(cursor, limit=2)
        paged.extend(part.items)
        if (cursor := part.next_cursor) is None:
            break
    assert paged == whole
    # Nothing outside the window.
    earlier = ListCreditChanges(since=since - timedelta(hours=1), until=since)
    assert CreditChanges.model_validate(await wallets.ok(earlier)).items == []
