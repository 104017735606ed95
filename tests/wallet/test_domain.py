"""The account aggregate's rules, without I/O."""

import pytest

from contracts.gateway import UserRegistered
from contracts.wallet import AccountOpened
from services.wallet.domain import Account, UnknownAccountEvent


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
    with pytest.raises(UnknownAccountEvent):
        Account("ada").apply(stranger)
