"""What the voting service tells without changing anything: tiles and results."""

from __future__ import annotations

from contracts import Envelope, ErrorCode, Reply
from contracts.voting import (
    ClosedVoting,
    ClosedVotings,
    CountedVoters,
    GetResults,
    GetVoting,
    ListClosedVotings,
    ListVotings,
    OptionVotes,
    Voters,
)
from eventing.clock import Clock
from eventing.gather import bounded
from eventing.handlers import HandlerMap
from services.voting.changes import Changes
from services.voting.domain import Vote
from services.voting.replies import not_found, tile
from services.voting.store import ended_at

# Vote streams a CountedVoters query reads at once.
STREAMS_AT_ONCE = 32


class Queries:
    def __init__(self, changes: Changes, clock: Clock) -> None:
        self._changes = changes
        self._read_models = changes.read_models
        self._clock = clock

    def commands(self) -> HandlerMap[Reply]:
        return (
            HandlerMap[Reply]()
            .on(ListVotings, self.list_votings)
            .on(GetVoting, self.get_voting)
            .on(GetResults, self.get_results)
            .on(ListClosedVotings, self.list_closed_votings)
            .on(CountedVoters, self.counted_voters)
        )

    async def list_votings(self, query: ListVotings, _: Envelope) -> Reply:
        tiles = await self._read_models.tiles(
            query.user_id, self._clock.now(), status=query.status, include_paid=query.include_paid
        )
        return Reply.ok(tiles)

    async def get_voting(self, query: GetVoting, _: Envelope) -> Reply:
        return await tile(self._read_models, query.voting_id, query.user_id, self._clock.now())

    async def get_results(self, query: GetResults, _: Envelope) -> Reply:
        voting = await self._changes.votings.get(query.voting_id)
        if voting is None:
            return not_found(query.voting_id)
        status = voting.status(self._clock.now())
        if status != "closed" and not query.is_admin:
            return Reply.fail(
                ErrorCode.FORBIDDEN,
                "results are shown once the voting has closed",
                closes_at=(voting.closed_at or voting.closes_at).isoformat(),
            )
        tally = await self._read_models.tally(voting.id)
        return Reply.ok(
            {
                "voting_id": voting.id,
                "status": status,
                "total": sum(tally.values()),
                "options": [
                    {"id": o.id, "label": o.label, "votes": tally.get(o.id, 0)}
                    for o in voting.options
                ],
            }
        )

    async def list_closed_votings(self, query: ListClosedVotings, _: Envelope) -> Reply:
        items = []
        for voting in await self._read_models.ended_between(query.since, query.until):
            tally = await self._read_models.tally(voting["_id"])
            items.append(
                ClosedVoting(
                    voting_id=voting["_id"],
                    title=voting["title"],
                    kind=voting["kind"],
                    cost=voting["cost"],
                    opens_at=voting["opens_at"],
                    closes_at=voting["closes_at"],
                    ended_at=ended_at(voting),
                    options=[
                        OptionVotes(id=o["id"], label=o["label"], votes=tally.get(o["id"], 0))
                        for o in voting["options"]
                    ],
                )
            )
        return Reply.ok(ClosedVotings(items=items).model_dump(mode="json"))

    async def counted_voters(self, query: CountedVoters, _: Envelope) -> Reply:
        # Each user's vote stream, read by its key: the voting's whole range would read
        # every vote cast to learn about the few who registered.
        votes = await bounded(
            (self._changes.votes.get(Vote.key(query.voting_id, user)) for user in query.user_ids),
            STREAMS_AT_ONCE,
        )
        counted = [
            user
            for user, vote in zip(query.user_ids, votes, strict=True)
            if vote is not None and vote.state == "confirmed"
        ]
        return Reply.ok(Voters(user_ids=counted).model_dump(mode="json"))
