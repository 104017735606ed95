"""The voting service's settings, read from the environment (prefix ``LIVEVOTE_``)."""

from __future__ import annotations

from pydantic import Field

from eventing.settings import RuntimeSettings


class VotingSettings(RuntimeSettings):
    # How many votings may be open at one instant.
    voting_max_concurrent: int = Field(default=16, ge=1, le=1000)
    # How long a paid vote's request waits for the saga before answering "pending".
    voting_confirm_wait_seconds: float = Field(default=1.5, ge=0, le=30)
    # A reservation this close to its expiry is not used: the wallet may be releasing it.
    voting_reservation_margin_seconds: float = Field(default=5.0, ge=0, le=300)
    # The longest a process relies on a voting's rules without reading them again (changes
    # made by any process reach every process at once through the broker anyway).
    voting_cache_seconds: float = Field(default=2.0, ge=0, le=60)
    # Votings a process keeps at most for the vote path; the least recently used go first.
    voting_cache_size: int = Field(default=10_000, ge=1, le=1_000_000)
