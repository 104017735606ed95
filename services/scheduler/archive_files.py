"""The archive's files: what each holds as CSV, and how a file is cut into chunks for the
store. Pure: no I/O.

Rows come in a fixed order (votings by id, options as the voting lists them, credit
changes by time then event, notifications by creation then campaign) and hold nothing
about the moment they were written, so that writing a day again gives the same bytes.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from contracts.notifier import Delivery
from contracts.voting import ClosedVoting
from contracts.wallet import CreditChange

LEDGER = "ledger.csv"
NOTIFICATIONS = "notifications.csv"
# GridFS's chunk size: a chunk is one store document and one reply to the gateway.
CHUNK_BYTES = 255 * 1024

VOTING_HEADER = (
    "voting_id",
    "title",
    "kind",
    "cost",
    "opens_at",
    "closes_at",
    "ended_at",
    "option_id",
    "option",
    "votes",
)
LEDGER_HEADER = (
    "at",
    "user_id",
    "kind",
    "amount",
    "balance_change",
    "voting_id",
    "reference",
    "reason",
    "event_id",
)
NOTIFICATIONS_HEADER = (
    "campaign_id",
    "kind",
    "voting_id",
    "title",
    "created_at",
    "audience",
    "inboxed",
    "in_app",
    "pushed",
    "failed",
    "tokens_removed",
    "without_device",
    "done",
)

Row = Sequence[object]


def voting_file(voting_id: str) -> str:
    return f"voting-{voting_id}.csv"


def voting_rows(voting: ClosedVoting) -> list[Row]:
    """One row per option, with its votes."""
    return [
        (
            voting.voting_id,
            voting.title,
            voting.kind,
            voting.cost,
            moment(voting.opens_at),
            moment(voting.closes_at),
            moment(voting.ended_at),
            option.id,
            option.label,
            option.votes,
        )
        for option in voting.options
    ]


def ledger_row(change: CreditChange) -> Row:
    return (
        moment(change.at),
        change.user_id,
        change.kind,
        change.amount,
        change.balance_change,
        change.voting_id or "",
        change.reference or "",
        change.reason,
        change.event_id,
    )


def notification_rows(deliveries: Iterable[Delivery]) -> list[Row]:
    ordered = sorted(deliveries, key=lambda delivery: (delivery.created_at, delivery.id))
    return [
        (
            delivery.id,
            delivery.kind,
            delivery.voting_id or "",
            delivery.title,
            moment(delivery.created_at),
            delivery.audience,
            delivery.inboxed,
            delivery.in_app,
            delivery.pushed,
            delivery.failed,
            delivery.tokens_removed,
            delivery.without_device,
            "yes" if delivery.done else "no",
        )
        for delivery in ordered
    ]


def moment(value: datetime) -> str:
    """A time in UTC to the millisecond (what every store keeps): one width for all rows."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def csv_lines(rows: Iterable[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows([spreadsheet_safe(cell) for cell in row] for row in rows)
    return out.getvalue()


def spreadsheet_safe(cell: object) -> object:
    """Text a spreadsheet would run as a formula (=, +, -, @ first) behind an apostrophe;
    numbers as they are."""
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@"):
        return f"'{cell}"
    return cell


@dataclass
class Chunker:
    """Cuts a file written piece by piece into chunks of ``size`` bytes (the last one
    shorter), counting its bytes and digesting it on the way."""

    size: int = CHUNK_BYTES
    length: int = 0
    _digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    _pending: bytearray = field(default_factory=bytearray)

    def add(self, piece: bytes) -> list[bytes]:
        """Take ``piece``; the chunks it completes."""
        self.length += len(piece)
        self._digest.update(piece)
        self._pending += piece
        full = len(self._pending) // self.size * self.size
        chunks = [bytes(self._pending[i : i + self.size]) for i in range(0, full, self.size)]
        del self._pending[:full]
        return chunks

    def finish(self) -> list[bytes]:
        """The last chunk, if any bytes are left over."""
        rest, self._pending = bytes(self._pending), bytearray()
        return [rest] if rest else []

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()
