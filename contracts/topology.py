"""Who listens to what: the command queue of each service and its event subscriptions.

Every service declares the whole topology when it starts, so an event published before
its consumer ever ran waits in that consumer's queue instead of being lost.
"""

import zlib
from collections.abc import Iterable
from typing import Final, Literal, get_args, get_origin

from contracts.envelope import Envelope, Message, message_types

SERVICES: Final = ("gateway", "voting", "wallet", "notifier", "scheduler")


def command_queue(service: str) -> str:
    """Commands and queries for ``service`` (request-reply)."""
    return f"{service}.commands"


def event_queue(service: str) -> str:
    """Events ``service`` reacts to."""
    return f"{service}.events"


def saga_queue(service: str, shard: int) -> str:
    """The paid-vote saga's events for ``service`` of the voters in ``shard``."""
    return f"{service}.saga.{shard}"


# Routing-key patterns (topic exchange) each service's event queue is bound with.
EVENT_SUBSCRIPTIONS: Final[dict[str, tuple[str, ...]]] = {
    "voting": (
        "scheduler.voting_open_time_reached",
        "scheduler.voting_close_time_reached",
    ),
    "scheduler": (
        "voting.voting_scheduled",
        "voting.voting_rescheduled",
        "voting.voting_cancelled",
        "voting.voting_closed",
    ),
    "wallet": ("gateway.user_registered",),
    "notifier": (
        "gateway.user_registered",
        "gateway.preferences_changed",
        "gateway.sockets_online",
        "notifier.update_published",
        # reminders and alerts
        "scheduler.voting_starting_soon",
        "scheduler.voting_closing_soon",
        "voting.voting_scheduled",
        "voting.voter_registered",
    ),
}


# The paid-vote saga's events, by the service that reacts to them. Each goes to one of
# that service's saga queues by its voter (``saga_shard``), so that a voter's steps reach
# the process preferring that shard (eventing.bus): one process then decides on a voter's
# account, or their vote, in turn, where two took turns at random and each decided on
# what the other had changed last (a lost race, read again from the store).
SAGA_SUBSCRIPTIONS: Final[dict[str, tuple[str, ...]]] = {
    "voting": (
        "wallet.credits_reserved",
        "wallet.credits_reservation_failed",
        "wallet.credits_released",
    ),
    "wallet": (
        "voting.vote_requested",
        "voting.vote_cast.paid",
        "voting.vote_rejected",
    ),
}

# A saga event's routing key without a shard is what an earlier version published: the
# event queue of its service stays bound to it, so that in a rolling upgrade nothing the
# processes of that version publish goes unheard.

# The payload field a saga event is sharded by: every one of them names its voter.
SAGA_SHARD_FIELD: Final = "user_id"
# ... but for the wallet's answer to a request that names the shard of the voting
# process holding it: that process then settles the vote it has just saved, and hands
# the outcome to the request itself.
ANSWER_SHARD_FIELD: Final = "answer_shard"

_SAGA_EVENTS: Final = frozenset(key for keys in SAGA_SUBSCRIPTIONS.values() for key in keys)
_ANSWERS: Final = frozenset(SAGA_SUBSCRIPTIONS["voting"])


def saga_shard(voter: str, shards: int) -> int:
    """The shard of a voter's saga steps, one of ``shards`` (the same in every process
    and version: a CRC, not Python's salted ``hash``)."""
    return zlib.crc32(voter.encode()) % shards


def published_key(event: Envelope, shards: int) -> str:
    """The routing key ``event`` is published with: its own, and for a saga event the
    shard of its voter after it (``voting.vote_requested.1``), or the one an answer names."""
    routing_key = event.routing_key
    if routing_key not in _SAGA_EVENTS:
        return routing_key
    named = event.payload.get(ANSWER_SHARD_FIELD) if routing_key in _ANSWERS else None
    if named is not None:
        return f"{routing_key}.{int(named) % shards}"
    return f"{routing_key}.{saga_shard(str(event.payload[SAGA_SHARD_FIELD]), shards)}"


def durable_queues(shards: int) -> list[str]:
    """Every service's command, event and saga queues (without the namespace)."""
    queues = [command_queue(service) for service in SERVICES]
    queues += [event_queue(service) for service in EVENT_SUBSCRIPTIONS]
    queues += [
        saga_queue(service, shard) for service in SAGA_SUBSCRIPTIONS for shard in range(shards)
    ]
    return queues


# Bindings an earlier version declared and this one does not: removed when a service
# declares the topology, so an upgraded system stops routing what nobody handles.
RETIRED_SUBSCRIPTIONS: Final[dict[str, tuple[str, ...]]] = {
    # Voting's own events: the outbox relay shows each commit in voting's read models
    # before publishing it, so they need not come back (eventing.relay).
    "voting": ("voting.#",),
    # Every vote counted: an alert asks voting which of the registered users voted
    # instead (CountedVoters), so a vote no longer costs the notifier a delivery and a write.
    "notifier": ("voting.vote_cast.*",),
}


# Events no process hears, neither a service's queue nor a broadcast one: kept for the
# record in their service's store (read models, the archive), and not published, where
# each would cost a confirmed publish for the broker to drop (a paid vote's debit, every
# free vote). A consumer that comes to need one takes it out of here, binds it, and hears
# it from then on; what came before is in the store.
UNPUBLISHED_EVENTS: Final[tuple[str, ...]] = (
    "voting.vote_cast.free",
    "wallet.account_opened",
    "wallet.credits_granted",
    "wallet.credits_purchased",
    "wallet.credits_debited",
    "wallet.credits_refunded",
    "notifier.recipient_added",
)


# Events no request waits for: a paid vote's debit or release, which follows the voter's
# answer. The relay may hold them a moment (RuntimeSettings.relay_linger_seconds) so that
# more of them go in one message, and the wallet decides on them as one piece of work.
UNHURRIED_EVENTS: Final[frozenset[str]] = frozenset(
    ("voting.vote_cast.paid", "voting.vote_rejected")
)


# Events published though no service's queue takes them: heard only by the broadcast
# queues of the processes running at the time, or published by a version that still
# publishes those above. The exchange ``unheard`` takes them and, having no queue, drops
# them; ``unrouted`` then keeps only what nobody meant to be dropped.
UNHEARD_EVENTS: Final[tuple[str, ...]] = (
    *UNPUBLISHED_EVENTS,
    # heard by the voting processes running, which forget their copy of the voting
    "voting.voting_opened",
    # heard by the gateways running, for the WebSocket sessions they hold
    "notifier.notification_created",
)


def matches(pattern: str, routing_key: str) -> bool:
    """Whether a topic-exchange binding ``pattern`` takes ``routing_key`` (``*`` is one
    word, ``#`` zero or more)."""

    def match(words: list[str], keys: list[str]) -> bool:
        if not words:
            return not keys
        if words[0] == "#":
            return any(match(words[1:], keys[i:]) for i in range(len(keys) + 1))
        return bool(keys) and words[0] in ("*", keys[0]) and match(words[1:], keys[1:])

    return match(pattern.split("."), routing_key.split("."))


def routing_keys(message: type[Message]) -> list[str]:
    """Every routing key ``message`` is published with (one per value of its
    ``routed_by`` field); none for a private event or a command."""
    if not message.routing_key:
        return []
    if message.routed_by is None:
        return [message.routing_key]
    annotation = message.model_fields[message.routed_by].annotation
    if get_origin(annotation) is not Literal:
        raise TypeError(f"{message.__name__}.{message.routed_by} is routed by, so a Literal")
    return [message.binding(str(value)) for value in get_args(annotation)]


def subscribed(service: str, message: type[Message]) -> list[str]:
    """The routing keys of ``message`` that reach ``service``'s event or saga queues
    (before a saga event's shard)."""
    patterns = EVENT_SUBSCRIPTIONS.get(service, ()) + SAGA_SUBSCRIPTIONS.get(service, ())
    return [key for key in routing_keys(message) if any(matches(p, key) for p in patterns)]


def subscription_gaps(service: str, handled: Iterable[type[Message]]) -> list[str]:
    """What ``service``'s event handlers and its queue's bindings disagree on: an event
    bound to the queue with no handler (it would be dropped in silence), or a handler
    for an event that never reaches the queue (it would never run)."""
    handled = set(handled)
    gaps = [
        f"{message.type} reaches {event_queue(service)} ({', '.join(keys)}) but has no handler"
        for message in message_types().values()
        if message not in handled and (keys := subscribed(service, message))
    ]
    gaps += [
        f"{message.type} has a handler but no binding of {event_queue(service)} takes it"
        for message in handled
        if not subscribed(service, message)
    ]
    return sorted(gaps)
