"""Every user's credit changes as the daily archive lists them. Pure: no I/O.

The user's own ledger (``domain.ledger_entry``) shows what moved their balance; the
archive also shows the credits held for a paid vote and let go again, so that an
accountant can follow each reservation from its hold to its debit or release.
"""

from __future__ import annotations

from datetime import UTC, datetime

from contracts import Message
from contracts.wallet import (
    CreditChange,
    CreditChangeKind,
    CreditsDebited,
    CreditsGranted,
    CreditsPurchased,
    CreditsRefunded,
    CreditsReleased,
    CreditsReserved,
)

# The account events that change credits (a failed reservation changes nothing).
CREDIT_EVENTS: tuple[type[Message], ...] = (
    CreditsGranted,
    CreditsPurchased,
    CreditsReserved,
    CreditsDebited,
    CreditsReleased,
    CreditsRefunded,
)


def credit_change(event: Message, event_id: str, at: datetime) -> CreditChange | None:
    """The archive's line for an account event; None for an event that changes no credits."""
    match event:
        case CreditsGranted():
            return CreditChange(
                event_id=event_id,
                at=at,
                user_id=event.user_id,
                kind="grant",
                amount=event.amount,
                balance_change=event.amount,
                voting_id=None,
                reference=event.granted_by,
                reason=event.reason,
            )
        case CreditsPurchased():
            return CreditChange(
                event_id=event_id,
                at=at,
                user_id=event.user_id,
                kind="purchase",
                amount=event.amount,
                balance_change=event.amount,
                voting_id=None,
                reference=event.session_id,
                reason=f"pack {event.pack_id}",
            )
        case CreditsRefunded():
            return CreditChange(
                event_id=event_id,
                at=at,
                user_id=event.user_id,
                kind="refund",
                amount=event.amount,
                balance_change=-event.amount,
                voting_id=None,
                reference=event.session_id,
                reason=f"refund {event.refund_id}",
            )
        case CreditsReserved():
            return _vote_change(event, event_id, at, "reserve", 0, "held for a paid vote")
        case CreditsDebited():
            return _vote_change(event, event_id, at, "debit", -event.amount, "paid vote")
        case CreditsReleased():
            return _vote_change(event, event_id, at, "release", 0, event.reason)
        case _:
            return None


def _vote_change(
    event: CreditsReserved | CreditsDebited | CreditsReleased,
    event_id: str,
    at: datetime,
    kind: CreditChangeKind,
    balance_change: int,
    reason: str,
) -> CreditChange:
    return CreditChange(
        event_id=event_id,
        at=at,
        user_id=event.user_id,
        kind=kind,
        amount=event.amount,
        balance_change=balance_change,
        voting_id=event.voting_id,
        reference=event.reservation_id,
        reason=reason,
    )


def change_key(at: datetime, event_id: str) -> str:
    """The key that orders changes by time, then event: a day's changes are one range of
    keys (``moment_key`` of its bounds), in the order the archive lists them."""
    return f"{moment_key(at)}/{event_id}"


def moment_key(moment: datetime) -> str:
    """A moment as text that sorts as the moments do (UTC, microseconds, fixed width)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
