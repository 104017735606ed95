"""Values every message may carry, bounded so that the store and every consumer can hold
them: a time is checked when a message is made, before anything is appended.

A ``Moment`` is an ISO 8601 time with its offset (or a ``datetime`` made in code; never a
number of seconds), between the years 2000 and 3000 in UTC. Python's datetime ends at
9999-12-31 and a MongoDB date in year 10000 cannot be read back, so
``9999-12-31T23:59:59-23:59`` (year 10000 in UTC) is refused here rather than stored
and failing in every consumer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)


def _iso_text_only(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("a time must be ISO 8601 text with a UTC offset, not a number")
    return value


def _within_range(value: datetime) -> datetime:
    try:
        in_utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range") from None
    if not EARLIEST <= in_utc < LATEST:
        raise ValueError(f"the time must be between {EARLIEST.year} and {LATEST.year} (UTC)")
    return value


Moment = Annotated[AwareDatetime, BeforeValidator(_iso_text_only), AfterValidator(_within_range)]
