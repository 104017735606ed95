"""Votings and votes, relayed to a voting service peer over the real broker."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from contracts import ErrorCode, Message, Reply
from contracts.voting import (
    CastVote,
    GetMyVote,
    GetResults,
    GetVoting,
    ListVotings,
    RegisterVoter,
)
from services.gateway.app import create_app
from services.gateway.dependencies import Gateway
from services.gateway.settings import GatewaySettings
from tests.gateway.support import admin_token, bearer, error_of, peer, running, user_token


def tile(voting_id: str, kind: str = "free", **changes: Any) -> dict[str, Any]:
    return {
        "id": voting_id,
        "title": f"Voting {voting_id}",
        "description": "Which song wins?",
        "kind": kind,
        "cost": 1 if kind == "paid" else 0,
        "opens_at": "2026-12-31T18:00:00+00:00",
        "closes_at": "2026-12-31T19:00:00+00:00",
        "closed_at": None,
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

    def results(query: Message) -> Reply:
        assert isinstance(query, GetResults)
        if not query.is_admin:
            return Reply.fail(
                ErrorCode.FORBIDDEN,
                "results are shown once the voting has closed",
                closes_at="2026-12-31T19:00:00+00:00",
            )
        return Reply.ok(RESULTS)

    return {
        ListVotings: answer(Reply.ok(list(tiles.values()))),
        GetVoting: get,
        RegisterVoter: answer(Reply.ok(tile("v1", registered=True))),
        CastVote: answer(replies.get("vote", vote("confirmed"))),
        GetMyVote: answer(replies.get("my_vote", vote("pending"))),
        GetResults: results,
    }


RESULTS = {
    "voting_id": "v1",
    "status": "open",
    "total": 3,
    "options": [{"id": "v1-1", "label": "A", "votes": 2}, {"id": "v1-2", "label": "B", "votes": 1}],
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


async def test_paid_votings_are_left_out_for_who_hides_them(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    user, access = await user_token(client)
    await client.patch("/api/v1/me/preferences", json={"show_paid": False}, headers=bearer(access))

    async with peer("voting", gateway_settings, voting_answers()) as voting:
        voting.answers[ListVotings] = answer(Reply.ok([tile("v1")]))
        listed = await client.get("/api/v1/votings", headers=bearer(access))
        paid = await client.get("/api/v1/votings/v2", headers=bearer(access))

    assert [t["id"] for t in listed.json()] == ["v1"]
    # The voting service leaves them out, so that pages and counts are right.
    assert voting.received[0].message() == ListVotings(user_id=user["id"], include_paid=False)
    assert paid.status_code == 200  # asked for by id, it is shown


@pytest.mark.parametrize("status", ["scheduled", "open", "closed", "cancelled"])
async def test_tiles_are_filtered_by_status(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings, status: str
) -> None:
    user, access = await user_token(client)

    async with peer("voting", gateway_settings, voting_answers()) as voting:
        response = await client.get(
            "/api/v1/votings", params={"status": status}, headers=bearer(access)
        )

    assert response.status_code == 200, response.text
    assert voting.received[0].message() == ListVotings(user_id=user["id"], status=status)


async def test_an_unknown_status_is_a_validation_error(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    _, access = await user_token(client)

    async with peer("voting", gateway_settings, voting_answers()) as voting:
        response = await client.get(
            "/api/v1/votings", params={"status": "running"}, headers=bearer(access)
        )

    assert response.status_code == 422
    assert error_of(response)["details"]["errors"][0]["loc"] == ["query", "status"]
    assert voting.received == []


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
    assert "Location" not in confirmed.headers
    assert pending.status_code == 202
    assert pending.json()["status"] == "pending"
    assert pending.headers["Location"] == "/api/v1/votings/v2/votes/me"
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
        await client.post("/api/v1/votings/v1/registration"),
        await client.post("/api/v1/votings/v1/votes", json={"option_id": "v1-1"}),
        await client.get("/api/v1/votings/v1/votes/me"),
        await client.get("/api/v1/votings/v1/results"),
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


async def test_requests_while_the_broker_connection_is_lost_are_503(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    _, access = await user_token(client)
    gateway: Gateway = app.state.gateway
    await gateway.runtime.bus.broker.stop()

    response = await client.get("/api/v1/votings", headers=bearer(access))

    assert response.status_code == 503
    assert error_of(response)["details"] == {"service": "voting"}


async def test_an_idempotency_key_makes_a_retry_the_same_command(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    (_, ada), (_, bob) = await asyncio.gather(user_token(client), user_token(client))

    async def cast(access: str, voting_id: str = "v1", key: str | None = "retry-me") -> None:
        headers = bearer(access) | ({"Idempotency-Key": key} if key else {})
        response = await client.post(
            f"/api/v1/votings/{voting_id}/votes", json={"option_id": "v1-1"}, headers=headers
        )
        assert response.status_code == 201, response.text

    async with peer("voting", gateway_settings, voting_answers()) as voting:
        await cast(ada)
        await cast(ada)  # the retry
        await cast(bob)  # another user with the same key
        await cast(ada, voting_id="v2")  # the same key on another voting
        await cast(ada, key=None)
        await cast(ada, key=None)

    first, retry, other_user, other_voting, unkeyed, unkeyed_again = (
        e.message_id for e in voting.received
    )
    assert retry == first
    assert len({first, other_user, other_voting, unkeyed, unkeyed_again}) == 5


async def test_an_idempotency_key_reused_for_another_request_is_refused(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    _, access = await user_token(client)
    headers = bearer(access) | {"Idempotency-Key": "once-only"}

    async with peer("voting", gateway_settings, voting_answers()) as voting:
        first = await client.post(
            "/api/v1/votings/v1/votes", json={"option_id": "v1-1"}, headers=headers
        )
        other = await client.post(
            "/api/v1/votings/v1/votes", json={"option_id": "v1-2"}, headers=headers
        )
        retry = await client.post(
            "/api/v1/votings/v1/votes", json={"option_id": "v1-1"}, headers=headers
        )

    assert first.status_code == 201, first.text
    assert other.status_code == 409
    assert error_of(other)["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert retry.status_code == 201
    # The other request never reached the voting service; the retry did, as the same one.
    assert [e.payload["option_id"] for e in voting.received] == ["v1-1", "v1-1"]
    assert voting.received[0].message_id == voting.received[1].message_id


@pytest.mark.parametrize("key", ["", "x" * 256, "two words", "caf\u00e9".encode()])
async def test_a_malformed_idempotency_key_is_refused(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings, key: str | bytes
) -> None:
    _, access = await user_token(client)

    async with peer("voting", gateway_settings, voting_answers()) as voting:
        response = await client.post(
            "/api/v1/votings/v1/votes",
            json={"option_id": "v1-1"},
            headers={**bearer(access), "Idempotency-Key": key},
        )

    assert response.status_code == 422
    assert error_of(response)["details"]["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert voting.received == []


async def test_a_vote_may_take_longer_than_other_requests(
    gateway_settings: GatewaySettings,
) -> None:
    # The voting service holds a paid vote's request for up to its confirm wait.
    settings = gateway_settings.model_copy(
        update={"request_timeout_seconds": 1.0, "voting_confirm_wait_seconds": 2.0}
    )

    async def slowly(reply: Reply) -> Reply:
        await asyncio.sleep(1.8)
        return reply

    app = create_app(settings)
    async with app.router.lifespan_context(app), running(app) as client:
        _, access = await user_token(client)
        async with peer("voting", settings, voting_answers()) as voting:
            voting.answers[CastVote] = lambda _: slowly(vote("confirmed"))
            voting.answers[ListVotings] = lambda _: slowly(Reply.ok([]))
            voted = await client.post(
                "/api/v1/votings/v1/votes", json={"option_id": "v1-1"}, headers=bearer(access)
            )
            listed = await client.get("/api/v1/votings", headers=bearer(access))

    assert voted.status_code == 201, voted.text
    assert listed.status_code == 503


async def test_registration_answers_the_tile(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    user, access = await user_token(client)

    async with peer("voting", gateway_settings, voting_answers()) as voting:
        first = await client.post("/api/v1/votings/v1/registration", headers=bearer(access))
        again = await client.post("/api/v1/votings/v1/registration", headers=bearer(access))
        voting.answers[RegisterVoter] = answer(
            Reply.fail(ErrorCode.VOTING_CLOSED, "this voting is closed")
        )
        closed = await client.post("/api/v1/votings/v1/registration", headers=bearer(access))

    assert first.status_code == again.status_code == 200, first.text
    assert first.json() == tile("v1", registered=True)
    assert voting.received[0].message() == RegisterVoter(voting_id="v1", user_id=user["id"])
    assert closed.status_code == 409
    assert error_of(closed)["code"] == "VOTING_CLOSED"


@pytest.mark.parametrize("status", ["confirmed", "pending"])
async def test_my_vote_shows_where_it_stands(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings, status: str
) -> None:
    user, access = await user_token(client)

    async with peer("voting", gateway_settings, voting_answers(my_vote=vote(status))) as voting:
        response = await client.get("/api/v1/votings/v1/votes/me", headers=bearer(access))

    assert response.status_code == 200, response.text
    assert response.json() == vote(status).result
    assert voting.received[0].message() == GetMyVote(voting_id="v1", user_id=user["id"])


async def test_a_rejected_vote_says_why_and_no_vote_is_404(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    _, access = await user_token(client)
    rejected = Reply.ok(
        {
            "vote_id": "vote-1",
            "status": "rejected",
            "voting_id": "v1",
            "option_id": "v1-1",
            "reason": "INSUFFICIENT_CREDITS",
        }
    )

    async with peer("voting", gateway_settings, voting_answers(my_vote=rejected)) as voting:
        found = await client.get("/api/v1/votings/v1/votes/me", headers=bearer(access))
        voting.answers[GetMyVote] = answer(
            Reply.fail(ErrorCode.NOT_FOUND, "you have not voted in this voting")
        )
        none = await client.get("/api/v1/votings/v1/votes/me", headers=bearer(access))

    assert found.status_code == 200
    assert found.json() == rejected.result
    assert none.status_code == 404
    assert error_of(none)["code"] == "NOT_FOUND"


async def test_results_for_admins_at_any_time_for_users_as_the_voting_service_decides(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings
) -> None:
    _, access = await user_token(client)
    admin = await admin_token(client)

    async with peer("voting", gateway_settings, voting_answers()) as voting:
        as_admin = await client.get("/api/v1/votings/v1/results", headers=bearer(admin))
        as_user = await client.get("/api/v1/votings/v1/results", headers=bearer(access))

    assert as_admin.status_code == 200, as_admin.text
    assert as_admin.json() == RESULTS
    assert as_user.status_code == 403
    assert error_of(as_user)["details"] == {"closes_at": "2026-12-31T19:00:00+00:00"}
    assert [e.message() for e in voting.received] == [
        GetResults(voting_id="v1", is_admin=True),
        GetResults(voting_id="v1", is_admin=False),
    ]
