"""The vote path's votings cache: bounded in size, fresh within its time, forgetting on
change. Without I/O: the repository here counts its loads."""

from typing import cast

from eventing.repository import Repository
from services.voting.changes import RecentVotings
from services.voting.domain import Voting


class CountedLoads:
    def __init__(self) -> None:
        self.loads: list[str] = []

    async def get(self, voting_id: str) -> Voting:
        self.loads.append(voting_id)
        return Voting(voting_id)


def recent(loads: CountedLoads, *, ttl: float = 60, size: int = 2) -> RecentVotings:
    return RecentVotings(cast(Repository[Voting], loads), ttl, size)


async def test_past_its_size_the_least_recently_loaded_voting_is_dropped() -> None:
    loads = CountedLoads()
    votings = recent(loads)
    for voting_id in ("v1", "v2", "v1", "v3"):
        await votings.get(voting_id)
    assert loads.loads == ["v1", "v2", "v3"]
    assert len(votings) == 2 and "v2" not in votings and "v1" in votings


async def test_a_forgotten_or_stale_voting_is_loaded_again() -> None:
    loads = CountedLoads()
    votings, stale = recent(loads), recent(loads, ttl=0)
    await votings.get("v1")
    votings.forget("v1")
    await votings.get("v1")
    await stale.get("v2")
    await stale.get("v2")
    assert loads.loads == ["v1", "v1", "v2", "v2"]
