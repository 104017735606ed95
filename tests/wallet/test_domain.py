"""The wallet's rules without I/O: accounts, reservations, refunds, Stripe payloads."""

from datetime import UTC, datetime, timedelta

import pytest

from contracts import Message
from contracts.gateway import UserRegistered
from contracts.wallet import (
    AccountOpened,
    CreditsDebited,
    CreditsGranted,
    CreditsPurchased,
    CreditsRefunded,
    CreditsReleased,
    CreditsReservationFailed,
    CreditsReserved,
)
from services.wallet.domain import Account, UnknownEvent
from services.wallet.statements import ledger_entry
from services.wallet.stripe_reports import RefundReport, SessionReport

NOW = datetime(2030, 5, 1, 18, 0, tzinfo=UTC)
LATER = NOW + timedelta(seconds=30)


def replayed(account: Account) -> Account:
    """The same account rebuilt from the events it recorded."""
    again = Account(account.id)
    for event in account.pending:
        again.apply(event)
    return again


def funded(credits: int) -> Account:
    account = Account("ada")
    account.grant(credits, "test", "admin")
    return account


def new_events(account: Account, since: int) -> list[Message]:
    return account.pending[since:]


def test_opening_twice_records_one_opening() -> None:
    account = Account("ada")
    account.open()
    account.open()
    assert account.pending == [AccountOpened(user_id="ada")]
    assert account.is_open and account.balance == 0


def test_a_replayed_account_is_open_and_does_not_open_again() -> None:
    account = Account("ada")
    account.apply(AccountOpened(user_id="ada"))
    account.open()
    assert account.pending == []


def test_an_event_the_account_does_not_know_stops_the_replay() -> None:
    stranger = UserRegistered(user_id="ada", email="a@example.com", display_name="A", role="user")
    with pytest.raises(UnknownEvent):
        Account("ada").apply(stranger)


def test_a_grant_to_an_account_not_opened_yet_opens_it_in_the_same_change() -> None:
    account = funded(3)
    assert account.pending == [
        AccountOpened(user_id="ada"),
        CreditsGranted(user_id="ada", amount=3, reason="test", granted_by="admin"),
    ]
    assert replayed(account).view() == {
        "user_id": "ada",
        "balance": 3,
        "reserved": 0,
        "available": 3,
    }


def test_a_reservation_holds_credits_until_debited() -> None:
    account = funded(2)
    account.reserve("v1", "voting-1", 1, LATER)
    assert (account.balance, account.reserved, account.available) == (2, 1, 1)
    assert account.commit("v1") == "debited"
    assert (account.balance, account.reserved, account.available) == (1, 0, 1)
    assert account.commit("v1") == "already_debited"
    assert replayed(account).view() == account.view()


def test_available_credits_bound_reservations() -> None:
    account = funded(1)
    account.reserve("v1", "voting-1", 1, LATER)
    # Each answer goes back to the saga queue its request named.
    account.reserve("v2", "voting-2", 1, LATER, answer_shard=1)
    assert new_events(account, 2) == [
        CreditsReserved(
            user_id="ada", reservation_id="v1", voting_id="voting-1", amount=1, expires_at=LATER
        ),
        CreditsReservationFailed(
            user_id="ada",
            reservation_id="v2",
            voting_id="voting-2",
            reason="INSUFFICIENT_CREDITS",
            answer_shard=1,
        ),
    ]
    assert account.available == 0


def test_a_decided_reservation_is_not_decided_again() -> None:
    account = funded(1)
    account.reserve("v1", "voting-1", 1, LATER)
    account.release("v1")
    count = len(account.pending)
    account.reserve("v1", "voting-1", 1, LATER)  # the request, delivered again
    assert len(account.pending) == count

    poor = Account("bob")
    poor.reserve("v9", "voting-1", 1, LATER)
    poor.grant(5, "later", "admin")
    poor.reserve("v9", "voting-1", 1, LATER)
    assert poor.reserved == 0 and poor.reservations["v9"].state == "failed"


def test_release_gives_held_credits_back_once() -> None:
    account = funded(1)
    account.reserve("v1", "voting-1", 1, LATER)
    assert account.release("v1")
    assert not account.release("v1")
    assert not account.release("unknown")
    assert (account.balance, account.reserved, account.available) == (1, 0, 1)
    assert account.pending[-1] == CreditsReleased(
        user_id="ada", reservation_id="v1", voting_id="voting-1", amount=1, reason="vote_rejected"
    )


def test_a_reservation_expires_only_after_its_timeout() -> None:
    account = funded(1)
    account.reserve("v1", "voting-1", 1, LATER)
    assert not account.expire("v1", LATER - timedelta(seconds=1))
    assert account.expire("v1", LATER)
    assert not account.expire("v1", LATER)
    assert isinstance(account.pending[-1], CreditsReleased)
    assert account.pending[-1].reason == "timeout"


def test_a_vote_cast_after_its_reservation_timed_out_is_debited_once() -> None:
    account = funded(1)
    account.reserve("v1", "voting-1", 1, LATER)
    account.expire("v1", LATER)
    account.reserve("v2", "voting-2", 1, LATER)  # the released credit is used again
    assert account.commit("v2") == "debited"
    assert account.commit("v1") == "debited_after_release"
    assert account.commit("v1") == "already_debited"
    # The vote counted, so its credit is spent: the balance goes below zero, and
    # nothing more can be reserved until it is topped up.
    assert (account.balance, account.available) == (-1, 0)
    assert replayed(account).view() == account.view()


def test_a_cast_without_a_reservation_debits_nothing() -> None:
    account = funded(1)
    account.reserve("v1", "voting-1", 5, LATER)  # fails: too few credits
    assert account.commit("v1") == "not_reserved"
    assert account.commit("v2") == "not_reserved"
    assert account.balance == 1


def test_a_session_is_credited_once() -> None:
    account = Account("ada")
    assert account.purchase("cs_1", "credits-5", 5)
    assert not account.purchase("cs_1", "credits-5", 5)
    assert account.pending == [
        AccountOpened(user_id="ada"),
        CreditsPurchased(user_id="ada", amount=5, pack_id="credits-5", session_id="cs_1"),
    ]


def test_refunds_take_back_their_share_then_the_rest_never_more() -> None:
    account = Account("ada")
    account.purchase("cs_1", "credits-5", 5)
    assert account.refund("cs_1", "re_1", 500, 250) == 2  # half: floor(2.5)
    assert account.refund("cs_1", "re_1", 500, 250) == 0  # the same refund again
    assert account.refund("cs_1", "re_0", 500, 100) == 0  # an older total, late
    assert account.refund("cs_1", "re_2", 500, 500) == 3  # fully refunded: the rest
    assert account.refund("cs_1", "re_3", 500, 500) == 0
    assert account.refund("cs_unknown", "re_4", 500, 500) == 0
    assert account.balance == 0
    assert [e.amount for e in account.pending if isinstance(e, CreditsRefunded)] == [2, 3]
    assert replayed(account).purchases["cs_1"].refunded == 5


def test_a_refund_may_take_the_balance_below_zero() -> None:
    account = Account("ada")
    account.purchase("cs_1", "credits-5", 5)
    account.reserve("v1", "voting-1", 4, LATER)
    account.commit("v1")
    assert account.refund("cs_1", "re_1", 500, 500) == 5
    assert (account.balance, account.available) == (-4, 0)


def test_a_copy_and_its_original_change_apart() -> None:
    original = Account("ada")
    original.purchase("cs_1", "credits-5", 5)
    original.reserve("v1", "voting-1", 1, LATER)
    original.reserve("v2", "voting-2", 1, LATER)
    original.causes.add("m1")
    before = (original.view(), dict(original.reservations), dict(original.purchases))

    twin = original.copy()
    twin.commit("v1")
    twin.release("v2")
    twin.reserve("v3", "voting-3", 1, LATER)
    twin.refund("cs_1", "re_1", 500, 500)
    twin.causes.add("m2")

    assert (original.view(), dict(original.reservations), dict(original.purchases)) == before
    assert original.refunds == set() and original.causes == {"m1"}
    assert len(original.pending) == len(twin.pending) - 4
    assert vars(twin).keys() == vars(original).keys()
    # Every attribute that can change is a container of its own in the copy, or a
    # value that cannot change: an attribute added later must be told apart here.
    shared = {n for n, v in vars(original).items() if v is vars(original.copy())[n]}
    assert shared == {"id", "version", "is_open", "balance", "reserved"}


def test_ledger_lines_say_what_moved_the_balance() -> None:
    names = {"credits-5": "5 credits"}
    grant = CreditsGranted(user_id="ada", amount=3, reason="goodwill", granted_by="admin-1")
    bought = CreditsPurchased(user_id="ada", amount=5, pack_id="credits-5", session_id="cs_1")
    debit = CreditsDebited(user_id="ada", reservation_id="v1", voting_id="voting-1", amount=1)
    refund = CreditsRefunded(user_id="ada", amount=2, session_id="cs_1", refund_id="re_1")
    lines = [ledger_entry(e, NOW, names) for e in (grant, bought, debit, refund)]
    assert [(line.kind, line.amount, line.reference) for line in lines if line] == [
        ("grant", 3, "admin-1"),
        ("purchase", 5, "cs_1"),
        ("vote", -1, "voting-1"),
        ("refund", -2, "cs_1"),
    ]
    assert lines[0] is not None and lines[0].reason == "goodwill"
    assert lines[1] is not None and "5 credits" in lines[1].reason
    held = CreditsReserved(
        user_id="ada", reservation_id="v1", voting_id="voting-1", amount=1, expires_at=LATER
    )
    assert ledger_entry(held, NOW, names) is None


def test_session_reports_tell_paid_from_not_yet_paid() -> None:
    session = {
        "id": "cs_1",
        "payment_status": "unpaid",
        "payment_intent": "pi_1",
        "client_reference_id": "ada",
        "metadata": {"user_id": "ada", "pack_id": "credits-5"},
    }
    unpaid = SessionReport.parse("checkout.session.completed", session)
    assert unpaid is not None and not unpaid.paid
    later = SessionReport.parse("checkout.session.async_payment_succeeded", session)
    assert later is not None and later.paid
    paid = SessionReport.parse(
        "checkout.session.completed", session | {"payment_status": "paid", "metadata": {}}
    )
    assert paid is not None and paid.paid
    assert (paid.user_id, paid.pack_id, paid.payment_intent) == ("ada", None, "pi_1")
    assert SessionReport.parse("checkout.session.completed", {"object": "x"}) is None


def test_refund_reports_name_the_newest_refund_or_the_running_total() -> None:
    charge = {
        "id": "ch_1",
        "payment_intent": {"id": "pi_1"},
        "amount": 500,
        "amount_refunded": 300,
        "refunds": {"data": [{"id": "re_2", "status": "succeeded"}, {"id": "re_1"}]},
    }
    report = RefundReport.parse(charge)
    assert report == RefundReport("pi_1", "re_2", 500, 300)
    without_list = RefundReport.parse(charge | {"refunds": None})
    assert without_list == RefundReport("pi_1", "ch_1:300", 500, 300)
    assert RefundReport.parse({"id": "ch_1", "amount": 500}) is None
