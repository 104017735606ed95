"""Read-model documents that carry the stream version they show."""

from __future__ import annotations

import contextlib
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]


async def stored_version(collection: AsyncCollection[Document], document_id: str) -> int:
    """The stream version a read-model document shows; 0 when there is none."""
    document = await collection.find_one({"_id": document_id}, {"version": 1})
    return 0 if document is None else int(document["version"])


async def write_versioned(
    collection: AsyncCollection[Document], document_id: str, version: int, fields: Document
) -> bool:
    """Write the document as of ``version`` unless it already shows that version or a newer
    one; True when written.

    Both steps filter on ``_id`` alone, the one filter every MongoDB-wire server answers
    from an index. The check and the write are two steps, so a slower writer can still land
    an older state; callers that must converge read the version back (``stored_version``).
    """
    if await stored_version(collection, document_id) >= version:
        return False
    # Two writers inserting the same new document at once: the other one's is as good.
    with contextlib.suppress(DuplicateKeyError):
        await collection.replace_one(
            {"_id": document_id}, {**fields, "version": version}, upsert=True
        )
    return True
