"""The scheduler's message handlers: a voting's schedule changes move its timers, and the
operator's questions about the daily archive are answered from its store."""

from __future__ import annotations

from collections.abc import Mapping

from contracts import Envelope, ErrorCode, Message, Reply
from contracts.scheduler import (
    ArchiveChunk,
    ArchiveDays,
    GetArchiveFile,
    ListArchive,
    ReadArchiveChunk,
)
from eventing.bus import EventHandler
from eventing.handlers import HandlerMap
from services.scheduler.archive_store import ArchiveStore
from services.scheduler.domain import SCHEDULE_EVENTS, ScheduleChange, ScheduleEvent
from services.scheduler.timetable import Timetable


class SchedulerHandlers:
    def __init__(self, timetable: Timetable) -> None:
        self._timetable = timetable

    def events(self) -> Mapping[type[Message], EventHandler]:
        return dict.fromkeys(SCHEDULE_EVENTS, self.schedule_changed)

    async def schedule_changed(self, event: Message, envelope: Envelope) -> None:
        # No message-id dedupe needed: applying a change is idempotent by its keys, and
        # the same change published twice under two message ids has one stream version.
        assert isinstance(event, ScheduleEvent)
        await self._timetable.apply(ScheduleChange.of(event, envelope))


class ArchiveQueries:
    def __init__(self, store: ArchiveStore) -> None:
        self._store = store

    def commands(self) -> HandlerMap[Reply]:
        return (
            HandlerMap[Reply]()
            .on(ListArchive, self.list_archive)
            .on(GetArchiveFile, self.get_file)
            .on(ReadArchiveChunk, self.read_chunk)
        )

    async def list_archive(self, _: ListArchive, __: Envelope) -> Reply:
        return Reply.ok(ArchiveDays(days=await self._store.days()).model_dump(mode="json"))

    async def get_file(self, query: GetArchiveFile, _: Envelope) -> Reply:
        file = await self._store.file(query.day, query.name)
        if file is None:
            return _not_found(query.day, query.name)
        return Reply.ok(file.listed.model_dump(mode="json"))

    async def read_chunk(self, query: ReadArchiveChunk, _: Envelope) -> Reply:
        data = await self._store.chunk(query.day, query.name, query.index)
        if data is None:
            return _not_found(query.day, query.name, index=query.index)
        return Reply.ok(ArchiveChunk(data=data).model_dump(mode="json"))


def _not_found(day: str, name: str, **details: object) -> Reply:
    return Reply.fail(
        ErrorCode.NOT_FOUND, "no such file in the archive", day=day, name=name, **details
    )
