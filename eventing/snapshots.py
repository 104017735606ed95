"""Snapshots: an aggregate as of a version, so that reading it costs only the commits after.

A stream is read commit by commit, one round trip each (:mod:`eventing.store`), so an
account with a thousand purchases and votes, or the calendar every scheduled voting
passes through, costs a thousand round trips to load without one. A snapshot is one
document per stream (``_id`` = the stream) holding the aggregate pickled as of a
version at the end of a commit; loading reads it and then the commits after it.

Invariants:
- A snapshot is a cache of what the stream says, never the truth: whatever is wrong with
  one (missing, written by other code, unreadable, too big to write) means the stream is
  read from its start. An older snapshot written over a newer one by a slower process
  costs a few more reads, nothing else.
- It is tagged with a fingerprint of the code that pickled it (every source file of
  ``contracts``, ``eventing`` and the aggregate's package), so a deploy that changes
  any of them ignores the snapshots of the code before and writes its own.
- The store is the service's own database, trusted as its streams are: a snapshot is
  unpickled only from there.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import pickle
from pathlib import Path
from typing import Any, TypeVar

from bson import Binary
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DocumentTooLarge, DuplicateKeyError

from eventing.aggregate import Aggregate
from eventing.logs import get_logger

log = get_logger(__name__)

SNAPSHOTS = "snapshots"

A = TypeVar("A", bound=Aggregate)

# What unpickling state of other code raises; each only means: read the stream instead.
_UNREADABLE = (
    pickle.UnpicklingError, AttributeError, ImportError, EOFError, TypeError, ValueError,
    IndexError, KeyError,
)  # fmt: skip


class Snapshots:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self._snapshots = database[SNAPSHOTS]

    async def load(self, fresh: A) -> A | None:
        """The aggregate of ``fresh``'s stream as of its latest snapshot, when there is
        one this code can use."""
        document = await self._snapshots.find_one({"_id": fresh.stream})
        if document is None or document.get("code") != code_fingerprint(type(fresh).__module__):
            return None
        try:
            state = pickle.loads(document["state"])
        except _UNREADABLE as error:
            log.warning("snapshot unreadable", stream=fresh.stream, error=repr(error))
            return None
        if type(state) is not type(fresh) or state.id != fresh.id:
            return None
        loaded: A = state
        return loaded

    async def save(self, aggregate: Aggregate) -> None:
        """Remember ``aggregate`` as it stands (saved: nothing pending)."""
        if aggregate.pending:
            raise ValueError("a snapshot is of a saved aggregate")
        try:
            state = pickle.dumps(aggregate, protocol=pickle.HIGHEST_PROTOCOL)
            await self._snapshots.replace_one(
                {"_id": aggregate.stream},
                {
                    "_id": aggregate.stream,
                    "code": code_fingerprint(type(aggregate).__module__),
                    "state": Binary(state),
                },
                upsert=True,
            )
        except DuplicateKeyError:
            pass  # another process wrote the stream's first snapshot at the same moment
        except (DocumentTooLarge, pickle.PicklingError) as error:
            log.warning("snapshot not written", stream=aggregate.stream, error=repr(error))


@functools.cache
def code_fingerprint(module: str) -> str:
    """A digest of every source file the pickled state of an aggregate defined in
    ``module`` may depend on."""
    packages = {"contracts", "eventing", module.rpartition(".")[0] or module}
    digest = hashlib.sha256()
    for package in sorted(packages):
        spec = importlib.util.find_spec(package)
        folders = spec.submodule_search_locations if spec is not None else None
        sources = [s for f in folders or [] for s in Path(f).rglob("*.py")]
        if spec is not None and spec.origin and not folders:
            sources = [Path(spec.origin)]
        for source in sorted(sources):
            digest.update(source.name.encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()[:20]
