"""Every user's credit changes as the daily archive lists them. Pure: no I/O.

The user's own ledger (``domain.ledger_entry``) shows what moved their balance; the
archive also shows the credits held for a paid vote and let go again, so that an
accountant can follow each reservation from its hold to its debit or release.
"""

from __future__ import annotations

from datetime import datetime

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
    # What it did to the balance, the voting, the reference and the reason.
    facts: tuple[CreditChangeKind, int, str | None, str | None, str]
    match event:
        case CreditsGranted():
            facts = ("grant", event.amount, None, event.granted_by, event.reason)
        case CreditsPurchased():
            facts = ("purchase", event.amount, None, event.session_id, f"pack {event.pack_id}")
        case CreditsRefunded():
            facts = ("refund", -event.amount, None, event.session_id, f"refund {event.refund_id}")
        case CreditsReserved():
            facts = ("reserve", 0, event.voting_id, event.reservation_id, "held for a paid vote")
        case CreditsDebited():
            facts = ("debit", -event.amount, event.voting_id, event.reservation_id, "paid vote")
        case CreditsReleased():
            facts = ("release", 0, event.voting_id, event.reservation_id, event.reason)
        case _:
            return None
    kind, balance_change, voting_id, reference, reason = facts
    return CreditChange(
        event_id=event_id,
        at=at,
        user_id=event.user_id,
        kind=kind,
        amount=event.amount,
        balance_change=balance_change,
        voting_id=voting_id,
        reference=reference,
        reason=reason,
    )
