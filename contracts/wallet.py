"""Commands, queries and events of the wallet service."""

from contracts.envelope import Message


class GetBalance(Message):
    type = "wallet.GetBalance"

    user_id: str


class AccountOpened(Message):
    type = "wallet.AccountOpened"
    routing_key = "wallet.account_opened"

    user_id: str
