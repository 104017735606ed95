"""Who listens to what: the command queue of each service and its event subscriptions.

Every service declares the whole topology when it starts, so an event published before
its consumer ever ran waits in that consumer's queue instead of being lost.
"""

from typing import Final

SERVICES: Final = ("gateway", "voting", "wallet", "notifier", "scheduler")


def command_queue(service: str) -> str:
    """Commands and queries for ``service`` (request-reply)."""
    return f"{service}.commands"


def event_queue(service: str) -> str:
    """Events ``service`` reacts to."""
    return f"{service}.events"


# Routing-key patterns (topic exchange) each service's event queue is bound with.
EVENT_SUBSCRIPTIONS: Final[dict[str, tuple[str, ...]]] = {
    "voting": (
        "scheduler.voting_open_time_reached",
        "scheduler.voting_close_time_reached",
        "voting.#",  # its own events, for projections that survive a crash after append
        # the paid-vote saga
        "wallet.credits_reserved",
        "wallet.credits_reservation_failed",
        "wallet.credits_released",
    ),
    "scheduler": (
        "voting.voting_scheduled",
        "voting.voting_rescheduled",
        "voting.voting_cancelled",
        "voting.voting_closed",
    ),
    "wallet": (
        "gateway.user_registered",
        # the paid-vote saga
        "voting.vote_requested",
        "voting.vote_cast",
        "voting.vote_rejected",
    ),
    "notifier": ("gateway.user_registered", "gateway.preferences_changed"),
}
