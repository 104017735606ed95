"""The wallet's side of the paid-vote saga: reserve a credit on VoteRequested, debit it on
a paid VoteCast, release it on VoteRejected or when the reservation outlives its timeout.

Every step is an append at the account's version, so two handlers deciding on one
account at once (two replicas, two copies of a message) cannot both win: the loser
reloads and decides again, and the account's state machine makes a repeated step a
no-op. A step is logged at debug level: thousands happen a second, and the account's
events are their record; what should not happen (a debit without a reservation) is an
error.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from contracts import Envelope
from contracts.voting import VoteCast, VoteRejected, VoteRequested
from eventing.clock import Clock
from eventing.handlers import HandlerMap
from eventing.logs import get_logger
from services.wallet.settings import WalletSettings
from services.wallet.store import Accounts, OpenReservation, WalletReadModels

log = get_logger(__name__)

# Expired reservations released per sweep, and at once.
SWEEP_BATCH = 500
SWEEP_CONCURRENCY = 16


class PaidVotes:
    def __init__(
        self,
        accounts: Accounts,
        read_models: WalletReadModels,
        settings: WalletSettings,
        clock: Clock,
    ) -> None:
        self._accounts = accounts
        self._read_models = read_models
        self._clock = clock
        self._reservation_timeout = timedelta(seconds=settings.wallet_reservation_timeout_seconds)

    def events(self) -> HandlerMap[None]:
        return (
            HandlerMap[None]()
            .on(VoteRequested, self.vote_requested)
            .on(VoteCast, self.vote_cast)
            .on(VoteRejected, self.vote_rejected)
        )

    async def vote_requested(self, event: VoteRequested, envelope: Envelope) -> None:
        expires_at = self._clock.now() + self._reservation_timeout
        # The row goes in before the reservation can exist: a release, which can only
        # follow the reservation, then always deletes it after, never before.
        await self._read_models.hold(
            event.vote_id, event.user_id, expires_at, envelope.correlation_id
        )
        account, _ = await self._accounts.decide(
            event.user_id,
            lambda account: account.reserve(
                event.vote_id, event.voting_id, event.cost, expires_at, event.answer_shard
            ),
            cause=envelope,
        )
        reservation = account.reservations[event.vote_id]
        if reservation.state != "reserved" or reservation.expires_at != expires_at:
            # Not reserved now, or reserved by an earlier copy of this request: the row
            # follows the account.
            await self._read_models.track(account, event.vote_id, envelope.correlation_id)
        log.debug(
            "reservation decided",
            user_id=event.user_id,
            reservation_id=event.vote_id,
            state=reservation.state,
        )

    async def vote_cast(self, event: VoteCast, envelope: Envelope) -> None:
        if event.kind != "paid":
            return  # bound to paid ones only; a free one is nothing to the wallet
        account, outcome = await self._accounts.decide(
            event.user_id, lambda account: account.commit(event.vote_id), cause=envelope
        )
        match outcome:
            case "debited_after_release":
                log.error(
                    "a vote was cast after its reservation timed out; debited anyway",
                    user_id=event.user_id,
                    reservation_id=event.vote_id,
                    balance=account.balance,
                )
            case "not_reserved":
                log.error(
                    "a paid vote was cast without a credit reserved for it; nothing debited",
                    user_id=event.user_id,
                    reservation_id=event.vote_id,
                )
            case _:
                log.debug("credits debited", user_id=event.user_id, reservation_id=event.vote_id)
        await self._read_models.forget(event.vote_id)

    async def vote_rejected(self, event: VoteRejected, envelope: Envelope) -> None:
        _, released = await self._accounts.decide(
            event.user_id, lambda account: account.release(event.vote_id), cause=envelope
        )
        if released:
            log.debug("reservation released", user_id=event.user_id, reservation_id=event.vote_id)
        await self._read_models.forget(event.vote_id)

    async def release_expired(self) -> int:
        """Release the reservations that outlived their timeout; how many this released.

        Several replicas may sweep at once: each release is an append at the account's
        version, so exactly one of them releases, and the others find it released.
        """
        now = self._clock.now()
        due = await self._read_models.expired(now, SWEEP_BATCH)
        gate = asyncio.Semaphore(SWEEP_CONCURRENCY)

        async def release(row: OpenReservation) -> bool:
            async with gate:
                account, released = await self._accounts.decide(
                    row.user_id,
                    lambda account: account.expire(row.reservation_id, now),
                    correlation_id=row.correlation_id,
                )
                await self._read_models.track(account, row.reservation_id, row.correlation_id)
                if released:
                    log.info(
                        "reservation timed out; released",
                        user_id=row.user_id,
                        reservation_id=row.reservation_id,
                    )
                return released

        outcomes = await asyncio.gather(*(release(row) for row in due), return_exceptions=True)
        for row, outcome in zip(due, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                log.warning(
                    "could not release an expired reservation; retrying on the next sweep",
                    reservation_id=row.reservation_id,
                    error=repr(outcome),
                )
        return sum(1 for outcome in outcomes if outcome is True)
