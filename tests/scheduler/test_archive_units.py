"""The daily archive's pure parts: which days are due, what they are called, what each
file holds as CSV, and how a file is cut into chunks. No I/O."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, date, datetime, time, timedelta

import pytest

from contracts.notifier import Delivery
from contracts.voting import ClosedVoting, OptionVotes
from contracts.wallet import CreditChange
from services.scheduler.archive_days import ArchiveDay, Calendar
from services.scheduler.archive_files import (
    LEDGER_HEADER,
    NOTIFICATIONS_HEADER,
    VOTING_HEADER,
    Chunker,
    csv_lines,
    ledger_row,
    notification_rows,
    voting_file,
    voting_rows,
)

DAILY = Calendar.of(timedelta(days=1), time(0, 15))
T = datetime(2030, 5, 17, 18, 30, 12, 345678, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_a_calendar_day_runs_from_midnight_utc_and_is_named_by_its_date() -> None:
    day = DAILY.day_of(T)
    assert (day.starts_at, day.ends_at) == (at("2030-05-17T00:00Z"), at("2030-05-18T00:00Z"))
    assert day.name == "2030-05-17"
    # The last instant of a day is in it; midnight starts the next.
    assert DAILY.day_of(at("2030-05-17T23:59:59.999999Z")) == day
    assert DAILY.day_of(at("2030-05-18T00:00Z")).name == "2030-05-18"
    assert DAILY.day_of_date(date(2030, 5, 17)) == day
    # Other offsets name the same instant.
    assert DAILY.day_of(at("2030-05-18T01:30+02:00")) == day


def test_a_day_is_due_at_the_archive_time_of_the_next_one() -> None:
    day = DAILY.day_of(T)
    assert DAILY.due_at(day) == at("2030-05-18T00:15Z")
    assert DAILY.due(day, at("2030-05-18T00:14:59Z"), limit=10) == []
    assert DAILY.due(day, at("2030-05-18T00:15Z"), limit=10) == [day]


def test_after_downtime_every_missed_day_is_due_oldest_first_a_batch_at_a_time() -> None:
    first = DAILY.day_of(T)
    back = at("2030-05-21T09:00Z")
    due = DAILY.due(first, back, limit=10)
    assert [d.name for d in due] == ["2030-05-17", "2030-05-18", "2030-05-19", "2030-05-20"]
    assert DAILY.due(first, back, limit=2) == due[:2]
    assert DAILY.following(due[-1]).name == "2030-05-21"  # not due before 22 May 00:15


def test_shortened_days_are_named_by_their_first_moment_and_sort_as_they_come() -> None:
    short = Calendar.of(timedelta(seconds=4), time(0, 0, 1))
    day = short.day_of(T)
    assert day == ArchiveDay(at("2030-05-17T18:30:12Z"), at("2030-05-17T18:30:16Z"))
    assert day.name == "2030-05-17T183012Z"
    later = short.following(day)
    assert later.name == "2030-05-17T183016Z" and later.name > day.name
    assert short.due_at(day) == at("2030-05-17T18:30:17Z")


@pytest.mark.parametrize(
    ("length", "time_of_day"),
    [
        (timedelta(seconds=4), time(0, 0, 4)),
        (timedelta(seconds=1.5), time()),
        (timedelta(0), time()),
    ],
)
def test_a_calendar_refuses_days_it_could_not_write(length: timedelta, time_of_day: time) -> None:
    with pytest.raises(ValueError):
        Calendar.of(length, time_of_day)


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_a_voting_file_has_a_row_per_option_in_the_votings_order() -> None:
    voting = ClosedVoting(
        voting_id="v1",
        title='Best act, "live"',
        kind="paid",
        cost=1,
        opens_at=at("2030-05-17T18:00Z"),
        closes_at=at("2030-05-17T19:00Z"),
        ended_at=at("2030-05-17T18:45:00.123456Z"),
        options=[
            OptionVotes(id="v1-2", label="=HYPERLINK(1)", votes=3),
            OptionVotes(id="v1-1", label="Blue", votes=0),
        ],
    )
    assert voting_file("v1") == "voting-v1.csv"
    times = ["2030-05-17T18:00:00.000Z", "2030-05-17T19:00:00.000Z", "2030-05-17T18:45:00.123Z"]
    assert rows(csv_lines([VOTING_HEADER, *voting_rows(voting)])) == [
        list(VOTING_HEADER),
        # A label a spreadsheet would run as a formula is kept as text.
        ["v1", 'Best act, "live"', "paid", "1", *times, "v1-2", "'=HYPERLINK(1)", "3"],
        ["v1", 'Best act, "live"', "paid", "1", *times, "v1-1", "Blue", "0"],
    ]


def test_a_ledger_row_says_what_a_change_did_to_the_balance() -> None:
    debit = CreditChange(
        event_id="e1",
        at=T,
        user_id="u1",
        kind="debit",
        amount=1,
        balance_change=-1,
        voting_id="v1",
        reference="vote-1",
        reason="paid vote",
    )
    grant = debit.model_copy(
        update={
            "kind": "grant",
            "amount": 5,
            "balance_change": 5,
            "voting_id": None,
            "reference": "admin-1",
            "reason": "goodwill",
        }
    )
    text = csv_lines([LEDGER_HEADER, ledger_row(debit), ledger_row(grant)])
    assert rows(text)[1:] == [
        ["2030-05-17T18:30:12.345Z", "u1", "debit", "1", "-1", "v1", "vote-1", "paid vote", "e1"],
        ["2030-05-17T18:30:12.345Z", "u1", "grant", "5", "5", "", "admin-1", "goodwill", "e1"],
    ]


def test_notifications_are_listed_by_creation_then_campaign_whatever_order_they_came_in() -> None:
    def delivery(campaign: str, created_at: datetime, **counts: int) -> Delivery:
        return Delivery(
            id=campaign,
            kind="alert" if campaign.startswith("alert") else "update",
            title=campaign.title(),
            voting_id="v1" if campaign.startswith("alert") else None,
            audience=counts.get("audience", 0),
            inboxed=counts.get("inboxed", 0),
            in_app=counts.get("in_app", 0),
            pushed=counts.get("pushed", 0),
            failed=counts.get("failed", 0),
            tokens_removed=0,
            without_device=0,
            done=True,
            created_at=created_at,
        )

    later = delivery("update:u2", T + timedelta(hours=1), audience=2, inboxed=2, pushed=1, failed=1)
    first = delivery("alert:v1", T, audience=1, inboxed=1, in_app=1)
    tie = delivery("alert:v0", T, audience=1)
    text = csv_lines([NOTIFICATIONS_HEADER, *notification_rows([later, first, tie])])
    assert [row[0] for row in rows(text)] == ["campaign_id", "alert:v0", "alert:v1", "update:u2"]
    assert rows(text)[3] == [
        "update:u2",
        "update",
        "",
        "Update:U2",
        "2030-05-17T19:30:12.345Z",
        "2",
        "2",
        "0",
        "1",
        "1",
        "0",
        "0",
        "yes",
    ]


def test_a_file_is_cut_into_chunks_of_the_same_size_whatever_pieces_it_came_in() -> None:
    content = b"".join(f"row {n},{n * n}\n".encode() for n in range(1000))

    def cut(pieces: list[bytes]) -> tuple[list[bytes], Chunker]:
        chunker = Chunker(size=1000)
        chunks = [chunk for piece in pieces for chunk in chunker.add(piece)]
        return chunks + chunker.finish(), chunker

    whole, chunker = cut([content])
    assert [len(c) for c in whole[:-1]] == [1000] * (len(content) // 1000)
    assert b"".join(whole) == content
    assert chunker.length == len(content)
    assert chunker.sha256 == hashlib.sha256(content).hexdigest()
    pieces = [content[i : i + 37] for i in range(0, len(content), 37)]
    assert cut(pieces)[0] == whole
    assert cut([content[:1000]])[0] == [content[:1000]]  # no empty chunk after a full one
