"""Pushes go through the real firebase-admin code path to the project's fake FCM server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from scripts.fake_fcm import FakeFcm
from services.notifier.push import FcmPusher, Push
from services.notifier.settings import NotifierSettings


@pytest.fixture
async def pusher(fake_fcm: FakeFcm) -> AsyncIterator[FcmPusher]:
    await fake_fcm.clear()
    settings = NotifierSettings(fcm_url=fake_fcm.url, fcm_attempts=3, fcm_longest_wait_seconds=0.2)
    pusher = FcmPusher(settings, app_name=f"test-{uuid.uuid4().hex[:8]}")
    yield pusher
    await pusher.close()
    # Faults a test asked for and did not use up would fail the pushes of later tests.
    await fake_fcm.clear()


def push(token: str, **options: object) -> Push:
    return Push(
        token=token, title="Tonight", body="The vote opens soon", data={"k": "v"}, **options
    )  # type: ignore[arg-type]


async def test_every_push_reaches_its_device_in_batches_of_at_most_500(
    pusher: FcmPusher, fake_fcm: FakeFcm
) -> None:
    tokens = [f"device-{n}" for n in range(1_203)]
    sent = await pusher.send([push(token) for token in tokens])
    assert [s.fate for s in sent] == ["delivered"] * len(tokens)
    assert [s.push.token for s in sent] == tokens
    received = await fake_fcm.messages()
    assert sorted(m["token"] for m in received) == sorted(tokens)
    message = received[0]["message"]
    assert message["notification"] == {"title": "Tonight", "body": "The vote opens soon"}
    assert message["data"] == {"k": "v"}


async def test_an_alert_expires_when_its_voting_closes_and_collapses_per_voting(
    pusher: FcmPusher, fake_fcm: FakeFcm
) -> None:
    now = datetime(2026, 12, 2, 18, 55, tzinfo=UTC)
    closes = now + timedelta(minutes=5)
    [sent] = await pusher.send(
        [push("device-a", expires_at=closes, collapse_key="alert-v1", urgent=True)], now=now
    )
    assert sent.fate == "delivered"
    [received] = await fake_fcm.messages("device-a")
    android, apns = received["message"]["android"], received["message"]["apns"]
    assert android == {"ttl": "300s", "priority": "high", "collapse_key": "alert-v1"}
    assert apns["headers"] == {
        "apns-priority": "10",
        "apns-expiration": str(int(closes.timestamp())),
        "apns-collapse-id": "alert-v1",
    }


async def test_dead_tokens_are_told_apart_from_delivered_ones(
    pusher: FcmPusher, fake_fcm: FakeFcm
) -> None:
    tokens = ["device-1", "dead-2", "invalid-3", "mismatch-4", "device-5"]
    sent = await pusher.send([push(token) for token in tokens])
    assert [s.fate for s in sent] == ["delivered", "dead", "dead", "dead", "delivered"]
    assert "UNREGISTERED" in (sent[1].error or "") or "NOT_FOUND" in (sent[1].error or "")
    assert sorted(m["token"] for m in await fake_fcm.messages()) == ["device-1", "device-5"]


async def test_a_busy_fcm_is_tried_again_after_the_wait_it_asks_for(
    pusher: FcmPusher, fake_fcm: FakeFcm
) -> None:
    await fake_fcm.fail_next(429, count=2, retry_after=1)
    started = datetime.now(UTC)
    sent = await pusher.send([push("device-a"), push("device-b")])
    assert [s.fate for s in sent] == ["delivered", "delivered"]
    stats = await fake_fcm.stats()
    assert stats["fault 429"] == 2 and stats["accepted"] == 2
    # Both were refused at first; neither came back before the second FCM asked for.
    for message in await fake_fcm.messages():
        assert datetime.fromisoformat(message["received_at"]) - started >= timedelta(seconds=1)


async def test_a_push_fcm_keeps_refusing_is_recorded_as_failed(
    pusher: FcmPusher, fake_fcm: FakeFcm
) -> None:
    # 429: firebase-admin retries 5xx itself first (for seconds), quotas it leaves to us.
    await fake_fcm.fail_next(429, count=1_000)
    [sent] = await pusher.send([push("device-a")])
    assert sent.fate == "failed"
    assert sent.error
    assert await fake_fcm.messages() == []


async def test_without_fcm_settings_every_push_fails_with_a_reason() -> None:
    pusher = FcmPusher(NotifierSettings())
    [sent] = await pusher.send([push("device-a")])
    assert (sent.fate, sent.error) == ("failed", "FCM is not configured")
