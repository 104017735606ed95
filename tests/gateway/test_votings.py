"""Votings and votes, relayed to a voting service peer over the real broker."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from contracts import ErrorCode, Message, Reply
from contracts.voting import CastVote, GetVoting, ListVotings
from services.gateway.settings import GatewaySettings
from tests.gateway.support import bearer, error_of, peer, user_token


def tile(voting_id: str, kind: str = "free", **changes: Any) -> dict[str, Any]:
    return {
        "id": voting_id,
        "title": f"Voting {voting_id}",
        "description": "Which song wins?",
        "kind": kind,
        "cost": 1 if kind == "paid" else 0,
        "opens_at": "2026-12-31T18:00:00+00:00",
        "closes_at": "2026-12-31T19:00:00+00:00",
        "status": "open",
        "options": [{"id": f"{voting_id}-1", "label": "A"}, {"id": f"{voting_id}-2", "label": "B"}],
        "registered": False,
        "my_vote": None,
        **changes,
    }


def vote(status: str) -> Reply:
    return Reply.ok({"vote_id": "vote-1", "status": status, "voting_id": "v1", "option_id": "v1-1"})


def answer(reply: Reply) -> Any:
    return lambda _: reply


def voting_answers(**replies: Reply) -> dict[type[Message], Any]:
    tiles = {"v1": tile("v1"), "v2": tile("v2", kind="paid")}

    def get(query: Message) -> Reply:
        assert isinstance(query, GetVoting)
        if query.voting_id not in tiles:
            return Reply.fail(ErrorCode.NOT_FOUND, "no such voting", voting_id=query.voting_id)
        return Reply.ok(tiles[query.voting_id])

    return {
        ListVotings: answer(Reply.ok(list(tiles.values()))),
        GetVoting: get,
        CastVote: answer(replies.get("vote", vote("confirmed"))),
    }


async def test_tiles_are_listed_for_the_caller(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    user, access = await user_token(client)

    async with peer("voting", gateway_settings, voting_answers()) as voting:
        response = await client.get(
            "/api/v1/votings", headers={**bearer(access), "X-Correlation-ID": "list-1"}
        )

    assert response.status_code == 200, response.text
    assert response.json() == [tile("v1"), tile("v2", kind="paid")]
    [query] = voting.received
    assert query.message() == ListVotings(user_id=user["id"])
    assert query.correlation_id == "list-1"
    assert response.headers["X-Correlation-ID"] == "list-1"


async def test_paid_votings_are_hidden_from_who_hides_them(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    _, access = await user_token(client)
    await client.patch("/api/v1/me/preferences", json={"show_paid": False}, headers=bearer(access))

    async with peer("voting", gateway_settings, voting_answers()):
        listed = await client.get("/api/v1/votings", headers=bearer(access))
        paid = await client.get("/api/v1/votings/v2", headers=bearer(access))

    assert [t["id"] for t in listed.json()] == ["v1"]
    assert paid.status_code == 200  # asked for by id, it is shown


async def test_one_voting_and_an_unknown_one(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    user, access = await user_token(client)
    voted = tile(
        "v1", registered=True, my_vote={"vote_id": "x", "option_id": "v1-1", "status": "confirmed"}
    )

    async with peer("voting", gateway_settings, voting_answers()) as voting:
        voting.answers[GetVoting] = lambda q: (
            Reply.ok(voted)
            if q.voting_id == "v1"  # type: ignore[attr-defined]
            else Reply.fail(ErrorCode.NOT_FOUND, "no such voting", voting_id="nope")
        )
        found = await client.get("/api/v1/votings/v1", headers=bearer(access))
        missing = await client.get("/api/v1/votings/nope", headers=bearer(access))

    assert found.status_code == 200
    assert found.json() == voted
    assert voting.received[0].message() == GetVoting(voting_id="v1", user_id=user["id"])
    assert missing.status_code == 404
    assert error_of(missing) == {
        "code": "NOT_FOUND",
        "message": "no such voting",
        "details": {"voting_id": "nope"},
    }


async def test_a_counted_vote_is_201_and_a_pending_one_202(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    user, access = await user_token(client)

    async with peer("voting", gateway_settings, voting_answers()) as voting:
        confirmed = await client.post(
            "/api/v1/votings/v1/votes", json={"option_id": "v1-1"}, headers=bearer(access)
        )
        voting.answers[CastVote] = answer(vote("pending"))
        pending = await client.post(
            "/api/v1/votings/v2/votes", json={"option_id": "v2-1"}, headers=bearer(access)
        )

    assert confirmed.status_code == 201, confirmed.text
    assert confirmed.json() == vote("confirmed").result
    assert pending.status_code == 202
    assert pending.json()["status"] == "pending"
    assert voting.received[0].message() == CastVote(
        voting_id="v1", user_id=user["id"], option_id="v1-1"
    )


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        (Reply.fail(ErrorCode.ALREADY_VOTED, "you have already voted"), 409),
        (
            Reply.fail(
                ErrorCode.VOTING_NOT_OPEN, "not open yet", opens_at="2026-12-31T18:00:00+00:00"
            ),
            409,
        ),
        (Reply.fail(ErrorCode.VOTING_CLOSED, "closed"), 409),
        (Reply.fail(ErrorCode.UNKNOWN_OPTION, "no such option"), 422),
        (Reply.fail(ErrorCode.INSUFFICIENT_CREDITS, "buy credits"), 402),
        (Reply.fail(ErrorCode.INTERNAL_ERROR, "the command failed; try again"), 500),
    ],
    ids=lambda value: value.error.code if isinstance(value, Reply) and value.error else None,
)
async def test_a_refused_vote_passes_the_reason_on(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings, reply: Reply, status: int
) -> None:
    _, access = await user_token(client)

    async with peer("voting", gateway_settings, voting_answers(vote=reply)):
        response = await client.post(
            "/api/v1/votings/v1/votes", json={"option_id": "v1-1"}, headers=bearer(access)
        )

    assert response.status_code == status
    assert reply.error is not None
    assert error_of(response) == reply.error.model_dump(mode="json")


@pytest.mark.parametrize("body", [{}, {"option_id": ""}, {"option_id": 3}, {"option": "v1-1"}])
async def test_a_bad_vote_body_is_refused_without_asking_the_voting_service(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings, body: dict[str, Any]
) -> None:
    _, access = await user_token(client)

    async with peer("voting", gateway_settings, voting_answers()) as voting:
        response = await client.post("/api/v1/votings/v1/votes", json=body, headers=bearer(access))

    assert response.status_code == 422
    assert error_of(response)["code"] == "VALIDATION_ERROR"
    assert voting.received == []


async def test_votings_need_a_token(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/api/v1/votings"),
        await client.get("/api/v1/votings/v1"),
        await client.post("/api/v1/votings/v1/votes", json={"option_id": "v1-1"}),
    ):
        assert response.status_code == 401
        assert error_of(response)["code"] == "UNAUTHENTICATED"


async def test_votings_are_503_while_the_voting_service_does_not_answer(
    client: httpx.AsyncClient,
) -> None:
    _, access = await user_token(client)

    for response in (
        await client.get("/api/v1/votings", headers=bearer(access)),
        await client.post(
            "/api/v1/votings/v1/votes", json={"option_id": "v1-1"}, headers=bearer(access)
        ),
    ):
        assert response.status_code == 503
        error = error_of(response)
        assert error["code"] == "SERVICE_UNAVAILABLE"
        assert error["details"] == {"service": "voting"}
