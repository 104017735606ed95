"""Credit accounts. Pure: no I/O.

An account is the stream ``account-<user id>``; its balance is what its events add up to.
"""

from __future__ import annotations

from contracts import Message
from contracts.wallet import AccountOpened
from eventing.aggregate import Aggregate


class UnknownAccountEvent(Exception):
    """The stream holds an event this code cannot apply: its state cannot be rebuilt."""

    def __init__(self, event: Message) -> None:
        super().__init__(f"an account does not apply {event.type}")


class Account(Aggregate):
    stream_prefix = "account"

    def __init__(self, user_id: str) -> None:
        super().__init__(user_id)
        self.is_open = False
        # Whole credits; never negative.
        self.balance = 0

    @property
    def user_id(self) -> str:
        return self.id

    def open(self) -> None:
        """Open the account; opening an open account changes nothing."""
        if not self.is_open:
            self.trigger(AccountOpened(user_id=self.id))

    def apply(self, event: Message) -> None:
        match event:
            case AccountOpened():
                self.is_open = True
            case _:
                raise UnknownAccountEvent(event)
