"""The plain peer: livevote's vote as a small team would write it, without events or a
broker (``python -m bench.peer``).

One FastAPI process on uvicorn with its defaults (an access log line per request, where
livevote's gateway logs failures and a sample), PyJWT bearer tokens, and one database on the same
MongoDB-wire server livevote uses. A free vote is one insert whose ``_id`` is the voting
and the voter, so the store refuses a second one. A paid vote first takes the credit with
a conditional decrement of the voter's balance, then inserts the vote, and gives the
credit back when the insert finds a vote already there. The votings (kind, cost, options,
window) are read from the database once each and kept: they do not change while votes
come in.

The bench fills the database (votings and balances) and signs the tokens; the peer only
casts votes. Settings come from the environment: ``PEER_MONGODB_URL``, ``PEER_DATABASE``,
``PEER_JWT_SECRET`` and ``PEER_PORT``.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations at
# run time, and they name the dependencies defined inside create_app.
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import jwt
import uvicorn
from fastapi import Depends, FastAPI, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

TOKEN_ALGORITHM = "HS256"
VOTINGS = "votings"
VOTES = "votes"
BALANCES = "balances"


class PeerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PEER_")

    mongodb_url: str = "mongodb://127.0.0.1:27017/"
    database: str = "peer"
    jwt_secret: SecretStr
    host: str = "127.0.0.1"
    port: int = 8001


class CastVote(BaseModel):
    option_id: str


class VoteOut(BaseModel):
    voting_id: str
    option_id: str
    status: str = "confirmed"


@dataclass(frozen=True)
class Voting:
    cost: int
    options: frozenset[str]
    opens_at: datetime
    closes_at: datetime


class Refused(Exception):
    """A vote the peer does not take, answered as livevote answers it."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code


@dataclass
class Store:
    votings: AsyncCollection[dict[str, Any]]
    votes: AsyncCollection[dict[str, Any]]
    balances: AsyncCollection[dict[str, Any]]
    known: dict[str, Voting]

    async def voting(self, voting_id: str) -> Voting:
        if (known := self.known.get(voting_id)) is not None:
            return known
        found = await self.votings.find_one({"_id": voting_id})
        if found is None:
            raise Refused(status.HTTP_404_NOT_FOUND, "NOT_FOUND", "no such voting")
        voting = Voting(
            cost=int(found["cost"]),
            options=frozenset(found["options"]),
            opens_at=found["opens_at"],
            closes_at=found["closes_at"],
        )
        self.known[voting_id] = voting
        return voting

    async def cast(self, voting_id: str, voting: Voting, user_id: str, option_id: str) -> None:
        if voting.cost:
            taken = await self.balances.update_one(
                {"_id": user_id, "credits": {"$gte": voting.cost}},
                {"$inc": {"credits": -voting.cost}},
            )
            if taken.modified_count == 0:
                raise Refused(
                    status.HTTP_402_PAYMENT_REQUIRED, "INSUFFICIENT_CREDITS", "not enough credits"
                )
        vote = {
            "_id": f"{voting_id}:{user_id}",
            "voting_id": voting_id,
            "user_id": user_id,
            "option_id": option_id,
            "cast_at": datetime.now(UTC),
        }
        try:
            await self.votes.insert_one(vote)
        except DuplicateKeyError:
            if voting.cost:
                await self.balances.update_one({"_id": user_id}, {"$inc": {"credits": voting.cost}})
            raise Refused(
                status.HTTP_409_CONFLICT, "ALREADY_VOTED", "already voted in this voting"
            ) from None


def create_app(settings: PeerSettings) -> FastAPI:
    bearer = HTTPBearer(auto_error=False)
    secret = settings.jwt_secret.get_secret_value()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            settings.mongodb_url, tz_aware=True
        )
        database = client[settings.database]
        app.state.store = Store(database[VOTINGS], database[VOTES], database[BALANCES], {})
        try:
            yield
        finally:
            await client.close()

    app = FastAPI(title="plain peer", lifespan=lifespan)

    @app.exception_handler(Refused)
    async def refused(request: Request, error: Refused) -> JSONResponse:
        body = {"error": {"code": error.code, "message": str(error)}}
        return JSONResponse(body, status_code=error.status_code)

    # Async, as a dependency that does not block should be: FastAPI would run a plain
    # function on its thread pool, a thread hop per request.
    async def current_user(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> str:
        if credentials is None:
            raise Refused(status.HTTP_401_UNAUTHORIZED, "UNAUTHENTICATED", "no bearer token")
        try:
            claims = jwt.decode(
                credentials.credentials,
                secret,
                algorithms=[TOKEN_ALGORITHM],
                options={"require": ["sub", "exp"]},
            )
        except jwt.InvalidTokenError:
            raise Refused(
                status.HTTP_401_UNAUTHORIZED, "UNAUTHENTICATED", "invalid token"
            ) from None
        return str(claims["sub"])

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/v1/votings/{voting_id}/votes", status_code=status.HTTP_201_CREATED)
    async def cast_vote(
        voting_id: str,
        body: CastVote,
        user_id: Annotated[str, Depends(current_user)],
        request: Request,
    ) -> VoteOut:
        store: Store = request.app.state.store
        voting = await store.voting(voting_id)
        now = datetime.now(UTC)
        if now < voting.opens_at:
            raise Refused(status.HTTP_409_CONFLICT, "VOTING_NOT_OPEN", "not open yet")
        if now >= voting.closes_at:
            raise Refused(status.HTTP_409_CONFLICT, "VOTING_CLOSED", "the voting is closed")
        if body.option_id not in voting.options:
            raise Refused(status.HTTP_422_UNPROCESSABLE_ENTITY, "UNKNOWN_OPTION", "no such option")
        await store.cast(voting_id, voting, user_id, body.option_id)
        return VoteOut(voting_id=voting_id, option_id=body.option_id)

    return app


def main() -> None:
    settings = PeerSettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
