"""Events the scheduler emits when a durable timer fires, and the queries of the daily
archive it writes."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import Message


class VotingOpenTimeReached(Message):
    type = "scheduler.VotingOpenTimeReached"
    routing_key = "scheduler.voting_open_time_reached"

    voting_id: str
    due_at: datetime


class VotingCloseTimeReached(Message):
    type = "scheduler.VotingCloseTimeReached"
    routing_key = "scheduler.voting_close_time_reached"

    voting_id: str
    due_at: datetime


class VotingStartingSoon(Message):
    """A voting opens in the reminder lead time (``LIVEVOTE_REMINDER_LEAD_SECONDS``)."""

    type = "scheduler.VotingStartingSoon"
    routing_key = "scheduler.voting_starting_soon"

    voting_id: str
    opens_at: datetime
    due_at: datetime


class VotingClosingSoon(Message):
    """A voting closes in the alert lead time (``LIVEVOTE_ALERT_LEAD_SECONDS``)."""

    type = "scheduler.VotingClosingSoon"
    routing_key = "scheduler.voting_closing_soon"

    voting_id: str
    closes_at: datetime
    due_at: datetime


# The daily archive: queries the scheduler answers (it writes the archive).


class ListArchive(Message):
    """Every archived day, newest first; replies ``ArchiveDays``."""

    type = "scheduler.ListArchive"


class ArchiveFile(BaseModel):
    name: str
    bytes: int
    # Data rows, the header not counted.
    rows: int
    sha256: str
    # How many pieces ``ReadArchiveChunk`` reads it in.
    chunks: int


class ArchiveDay(BaseModel):
    day: str
    starts_at: datetime
    ends_at: datetime
    written_at: datetime
    files: list[ArchiveFile]


class ArchiveDays(BaseModel):
    days: list[ArchiveDay]


class GetArchiveFile(Message):
    """One archived file's facts; replies ``ArchiveFile``, NOT_FOUND for an unknown day or
    file."""

    type = "scheduler.GetArchiveFile"

    day: str
    name: str


class ReadArchiveChunk(Message):
    """Piece ``index`` of an archived file (pieces of at most 255 KiB, so that a reply
    stays small whatever the file's size); replies ``ArchiveChunk``, NOT_FOUND when
    there is no such piece."""

    type = "scheduler.ReadArchiveChunk"

    day: str
    name: str
    index: int = Field(ge=0)


class ArchiveChunk(BaseModel):
    # Base64 in JSON.
    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    data: bytes
