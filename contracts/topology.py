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
    ),
    "scheduler": ("voting.voting_scheduled",),
    "wallet": ("gateway.user_registered",),
    "notifier": ("gateway.user_registered", "gateway.preferences_changed"),
}
