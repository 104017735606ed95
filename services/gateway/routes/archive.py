"""The daily archive (admin only): the days written, their files, and each file as CSV.

The scheduler keeps the archive. A file is read from it a chunk at a time over the
broker and streamed on as the chunks come, so that a day's ledger, however long, never
sits whole in the gateway's memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import StreamingResponse

from contracts import ErrorCode
from contracts.scheduler import (
    ArchiveChunk,
    ArchiveDays,
    ArchiveFile,
    GetArchiveFile,
    ListArchive,
    ReadArchiveChunk,
)
from eventing.logs import get_logger
from services.gateway.auth import Admin
from services.gateway.dependencies import Gateway, GatewayDep
from services.gateway.errors import ApiError, responses

log = get_logger(__name__)

router = APIRouter(prefix="/admin/archive", tags=["archive"])

_ADMIN = (ErrorCode.UNAUTHENTICATED, ErrorCode.FORBIDDEN, ErrorCode.SERVICE_UNAVAILABLE)

Day = Annotated[str, Path(min_length=1, max_length=64, description="e.g. 2030-05-17")]
FileName = Annotated[str, Path(min_length=1, max_length=128, description="e.g. ledger.csv")]


@router.get("", responses=responses(*_ADMIN))
async def list_archive(_: Admin, gateway: GatewayDep) -> ArchiveDays:
    """Every archived day, newest first, with its files: ``voting-<id>.csv`` for each
    voting that ended that day (its options and votes), ``ledger.csv`` (every user's
    credit changes) and ``notifications.csv`` (each reminder, alert and update sent to
    many users, with its delivery)."""
    return await gateway.ask_for(ArchiveDays, "scheduler", ListArchive())


@router.get(
    "/{day}/{name}",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "the file, as it was written"},
        **responses(*_ADMIN, ErrorCode.VALIDATION_ERROR, ErrorCode.NOT_FOUND),
    },
)
async def download_archive_file(
    day: Day, name: FileName, _: Admin, gateway: GatewayDep
) -> StreamingResponse:
    """One archived file as CSV; NOT_FOUND for a day or file the archive does not have."""
    file = await gateway.ask_for(ArchiveFile, "scheduler", GetArchiveFile(day=day, name=name))
    return StreamingResponse(
        _chunks(gateway, day, file),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{day}-{name}"',
            "Content-Length": str(file.bytes),
            "ETag": f'"{file.sha256}"',
        },
    )


async def _chunks(gateway: Gateway, day: str, file: ArchiveFile) -> AsyncIterator[bytes]:
    for index in range(file.chunks):
        try:
            chunk = await gateway.ask_for(
                ArchiveChunk,
                "scheduler",
                ReadArchiveChunk(day=day, name=file.name, index=index),
            )
        except ApiError as error:
            # The status has gone out: the body stops short of its Content-Length, which
            # every client reports as a broken download.
            log.warning("an archived file could not be read to its end", error=error.message)
            return
        yield chunk.data
