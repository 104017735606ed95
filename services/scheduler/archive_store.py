"""The archive's files in the scheduler's database, keyed by ``_id`` alone.

Not GridFS: GridFS finds a file's chunks by a ``files_id`` index, and FerretDB v1 answers
any filter but ``_id`` by scanning the collection (the local build also seeks an ``_id``
range with a shared prefix, see eventing.store), so every read would go over every
chunk of every day. Here every lookup is by ``_id``, on MongoDB and FerretDB alike:

- ``archive_days``: one document per written day, named after the day, listing its
  files (name, bytes, rows, sha256, chunks, and the run that wrote them). It is
  inserted last, once every chunk of every file is stored, and only once: the unique
  ``_id`` decides between two writers of one day (two replicas, or a run restarted after
  a crash), so a day exists whole or not at all, and never twice.
- ``archive_chunks``: the files' bytes, ``<day>/<file>@<run>#<n>`` (``n`` zero-padded,
  so a file's chunks are one ``_id`` range in order). The run is a random name each
  writing attempt takes, so two attempts never write into each other's files, even if
  what they read differs; the day's document says whose chunks make the day.
  Chunks of an attempt that lost, stopped or died are deleted: by the loser when its
  day document is refused, by a run cut short on its way out, and by the winner, which
  sweeps the day's range once it wins (the chunks of a process killed mid-run).
- ``archive_state``: the first day to archive (``first-day``), set by the first
  scheduler that ever ran, so a new deployment does not write every day since 1970.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from bson import Binary
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts.scheduler import ArchiveDay as DayListing
from contracts.scheduler import ArchiveFile
from services.scheduler.archive_days import ArchiveDay

Document = dict[str, Any]

# Chunks per insert: a few MiB per command.
INSERT_CHUNKS = 8


@dataclass(frozen=True, slots=True)
class StoredFile:
    name: str
    run: str
    bytes: int
    rows: int
    sha256: str
    chunks: int

    @property
    def listed(self) -> ArchiveFile:
        return ArchiveFile(
            name=self.name, bytes=self.bytes, rows=self.rows, sha256=self.sha256, chunks=self.chunks
        )


def chunk_prefix(day: str, name: str, run: str) -> str:
    return f"{day}/{name}@{run}#"


def chunk_id(day: str, name: str, run: str, index: int) -> str:
    return f"{chunk_prefix(day, name, run)}{index:06d}"


class ArchiveStore:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._days = database["archive_days"]
        self._chunks = database["archive_chunks"]
        self._state = database["archive_state"]

    # Writing ------------------------------------------------------------------------

    async def first_day(self, candidate: datetime) -> datetime:
        """The start of the first day to archive: the one recorded, else ``candidate``,
        recorded now (the first of concurrent callers wins)."""
        with contextlib.suppress(DuplicateKeyError):
            await self._state.insert_one({"_id": "first-day", "starts_at": candidate})
        recorded = await self._state.find_one({"_id": "first-day"})
        assert recorded is not None
        starts_at: datetime = recorded["starts_at"]
        return starts_at

    async def put_chunks(
        self, day: ArchiveDay, name: str, run: str, first: int, chunks: Sequence[bytes]
    ) -> None:
        """Store chunks ``first``, ``first + 1``, ... of a file this run writes."""
        for start in range(0, len(chunks), INSERT_CHUNKS):
            await self._chunks.insert_many(
                [
                    {"_id": chunk_id(day.name, name, run, first + start + n), "data": Binary(data)}
                    for n, data in enumerate(chunks[start : start + INSERT_CHUNKS])
                ]
            )

    async def written(self, day: ArchiveDay) -> bool:
        return await self._days.find_one({"_id": day.name}, {"_id": 1}) is not None

    async def complete(
        self, day: ArchiveDay, run: str, files: Sequence[StoredFile], now: datetime
    ) -> bool:
        """Record the day as written with these files; False (and this run's chunks
        deleted) when another run recorded it first."""
        try:
            await self._days.insert_one(
                {
                    "_id": day.name,
                    "starts_at": day.starts_at,
                    "ends_at": day.ends_at,
                    "written_at": now,
                    "files": [asdict(file) for file in files],
                }
            )
        except DuplicateKeyError:
            await self.discard(day, run, [file.name for file in files])
            return False
        await self._sweep(day.name, {chunk_prefix(day.name, f.name, f.run) for f in files})
        return True

    async def discard(self, day: ArchiveDay, run: str, names: Sequence[str]) -> None:
        """Delete what a run cut short wrote of these files."""
        for name in names:
            await self._delete_chunks(chunk_prefix(day.name, name, run))

    async def _sweep(self, day: str, kept: set[str]) -> None:
        """Delete the day's chunks that belong to no file of the day (of runs that died)."""
        cursor = self._chunks.find({"_id": {"$gte": f"{day}/", "$lt": f"{day}0"}}, {"_id": 1})
        prefixes = {document["_id"].rpartition("#")[0] + "#" async for document in cursor}
        for prefix in sorted(prefixes - kept):
            await self._delete_chunks(prefix)

    async def _delete_chunks(self, prefix: str) -> None:
        # ":" sorts right after the digits: the range holds exactly the file's chunks.
        await self._chunks.delete_many({"_id": {"$gte": prefix, "$lt": f"{prefix}:"}})

    # Reading ------------------------------------------------------------------------

    async def days(self) -> list[DayListing]:
        """Every written day, newest first."""
        cursor = self._days.find({}, sort=[("_id", DESCENDING)])
        return [_listing(document) async for document in cursor]

    async def file(self, day: str, name: str) -> StoredFile | None:
        document = await self._days.find_one({"_id": day})
        for file in (document or {}).get("files", []):
            if file["name"] == name:
                return StoredFile(**file)
        return None

    async def chunk(self, day: str, name: str, index: int) -> bytes | None:
        file = await self.file(day, name)
        if file is None or index >= file.chunks:
            return None
        document = await self._chunks.find_one({"_id": chunk_id(day, name, file.run, index)})
        return None if document is None else bytes(document["data"])


def _listing(document: Document) -> DayListing:
    return DayListing(
        day=document["_id"],
        starts_at=document["starts_at"],
        ends_at=document["ends_at"],
        written_at=document["written_at"],
        files=[StoredFile(**file).listed for file in document["files"]],
    )
