"""The notifier on a real broker and store: recipients, their preferences, late changes.

The notifier handles events concurrently (up to its prefetch), so nothing here relies on
the order in which it finishes them; a test waits for the state it expects, and for
"nothing else happens" it waits until the notifier has handled every message it was sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from contracts import Envelope, Message
from contracts.gateway import PreferencesChanged
from contracts.notifier import RecipientAdded
from eventing.service import ServiceRuntime
from eventing.settings import RuntimeSettings
from services.notifier.domain import (
    DEFAULT_PREFERENCES,
    Preferences,
    Recipient,
    RecipientPreferencesSet,
    Source,
)
from services.notifier.service import NotifierService
from services.notifier.settings import NotifierSettings
from services.notifier.store import RecipientView
from tests.support import Handled, eventually, registered

T0 = datetime(2030, 5, 17, 18, 0, tzinfo=UTC)


def changed(user_id: str, *, reminders: bool, updates: bool, show_paid: bool) -> PreferencesChanged:
    return PreferencesChanged(
        user_id=user_id, reminders=reminders, updates=updates, show_paid=show_paid
    )


def on_user_stream(user_id: str, version: int, message: Message) -> Envelope:
    """The envelope the gateway's relay publishes for the user's ``version``-th event."""
    return Envelope.wrap(message).model_copy(
        update={"stream": f"user-{user_id}", "version": version}
    )


@pytest.fixture
async def notifier(settings: RuntimeSettings) -> AsyncIterator[NotifierService]:
    service = NotifierService(NotifierSettings(**settings.model_dump()))
    await service.start()
    yield service
    await service.stop()


@pytest.fixture
def handled(notifier: NotifierService) -> Handled:
    """What the notifier has handled (counted from before the test publishes anything)."""
    return Handled(notifier)


async def recipient_is(
    notifier: NotifierService, user_id: str, preferences: Preferences, *, added: bool = True
) -> RecipientView:
    async def probe() -> RecipientView | None:
        view = await notifier.recipients.get(user_id)
        if view is None or view.preferences != preferences or view.added != added:
            return None
        return view

    view = await eventually(probe)
    assert view is not None
    return view


async def listed(notifier: NotifierService) -> tuple[set[str], set[str], set[str]]:
    """Who would get a reminder of a free voting, of a paid one, and an update."""
    return (
        {u async for u in notifier.recipients.reminder_recipients(paid=False)},
        {u async for u in notifier.recipients.reminder_recipients(paid=True)},
        {u async for u in notifier.recipients.update_recipients()},
    )


async def test_a_registered_user_is_added_once_with_default_preferences(
    gateway: ServiceRuntime, notifier: NotifierService, handled: Handled
) -> None:
    registration = on_user_stream("ada", 1, registered("ada"))
    for _ in range(3):
        await gateway.bus.publish_event(registration)
    unversioned = Envelope.wrap(registered("ada"))
    await gateway.bus.publish_event(unversioned)
    await recipient_is(notifier, "ada", Preferences(reminders=False, updates=False, show_paid=True))
    await handled.all(registration, registration, registration, unversioned)

    events = await notifier.store.read(Recipient.stream_name("ada"))
    assert [e.message() for e in events] == [RecipientAdded(user_id="ada")]
    reminded_free, reminded_paid, updated = await listed(notifier)
    # Reminders and updates are opt-in: a new recipient gets neither.
    assert "ada" not in reminded_free and "ada" not in reminded_paid
    assert "ada" not in updated

    async def published() -> bool:
        return await notifier.store.unpublished(10) == []

    await eventually(published)


async def test_preferences_follow_the_newest_change_whatever_order_they_arrive_in(
    gateway: ServiceRuntime, notifier: NotifierService, handled: Handled
) -> None:
    # Published by the gateway's own relay, in order, with their stream positions.
    ada = [
        Envelope.wrap(registered("ada")),
        Envelope.wrap(changed("ada", reminders=False, updates=True, show_paid=True)),
        Envelope.wrap(changed("ada", reminders=True, updates=True, show_paid=False)),
    ]
    for version, envelope in enumerate(ada):
        await gateway.store.append("user-ada", version, [envelope])
    newest = Preferences(reminders=True, updates=True, show_paid=False)
    await recipient_is(notifier, "ada", newest)

    # Grace's newer change overtakes the older one, and both overtake her registration.
    grace_newest = Preferences(reminders=False, updates=True, show_paid=True)
    grace = [
        on_user_stream("grace", 3, changed("grace", **dict(grace_newest))),
        on_user_stream("grace", 2, changed("grace", reminders=True, updates=False, show_paid=True)),
        on_user_stream("grace", 1, registered("grace")),
    ]
    for envelope in grace:
        await gateway.bus.publish_event(envelope)
    await recipient_is(notifier, "grace", grace_newest)

    # Ada's older change is delivered again, late: it must not win.
    older = (await gateway.store.read("user-ada"))[1]
    await gateway.bus.publish_event(older)
    await handled.all(*ada, *grace, older)
    await recipient_is(notifier, "ada", newest)
    await recipient_is(notifier, "grace", grace_newest)

    reminded_free, reminded_paid, updated = await listed(notifier)
    assert reminded_free == {"ada"}  # grace switched reminders off
    assert reminded_paid == set()  # ada hides paid votings
    assert updated == {"ada", "grace"}

    # Whichever of grace's changes were handled first, each applied one was newer than
    # the one before it, and the newest came last.
    applied = [
        event.source_version
        for envelope in await notifier.store.read(Recipient.stream_name("grace"))
        if isinstance(event := envelope.message(), RecipientPreferencesSet)
    ]
    assert applied in ([3], [2, 3])


async def test_the_recipients_read_model_is_rebuilt_from_the_store(
    gateway: ServiceRuntime, notifier: NotifierService
) -> None:
    ada_prefers = Preferences(reminders=False, updates=True, show_paid=False)
    await gateway.bus.publish_event(on_user_stream("ada", 1, registered("ada")))
    await gateway.bus.publish_event(on_user_stream("ada", 2, changed("ada", **dict(ada_prefers))))
    await gateway.bus.publish_event(on_user_stream("grace", 1, registered("grace")))
    before = [
        await recipient_is(notifier, "ada", ada_prefers),
        await recipient_is(notifier, "grace", DEFAULT_PREFERENCES),
    ]

    await notifier.db["recipients"].delete_many({})
    assert await notifier.recipients.rebuild(notifier.store) == 2
    assert [await notifier.recipients.get(u) for u in ("ada", "grace")] == before


async def test_a_late_write_of_an_older_state_does_not_replace_a_newer_one(
    notifier: NotifierService,
) -> None:
    # Two handlers of one recipient's events can finish in either order.
    older, newer = Recipient("ada"), Recipient("ada")
    older.add()
    older.version = 1
    newer.add()
    newer.set_preferences(Preferences(updates=True), Source("user-ada", 2, T0))
    newer.version = 2

    await notifier.recipients.put(newer)
    await notifier.recipients.put(older)
    ada = await notifier.recipients.get("ada")
    assert ada is not None and ada.version == 2 and ada.preferences.updates


async def test_a_burst_of_changes_handled_at_once_ends_at_the_newest(
    gateway: ServiceRuntime, notifier: NotifierService, handled: Handled
) -> None:
    # A user flipping switches quickly: many changes of one recipient in flight together,
    # arriving shuffled.
    changes = {
        version: changed(
            "ada", reminders=version % 2 == 0, updates=version % 3 == 0, show_paid=True
        )
        for version in range(2, 12)
    }
    order = [7, 3, 11, 2, 9, 5, 10, 4, 8, 6]
    burst = [on_user_stream("ada", 1, registered("ada"))]
    burst += [on_user_stream("ada", v, changes[v]) for v in order]
    await gateway.bus.publish_event(burst[0])
    await asyncio.gather(*(gateway.bus.publish_event(envelope) for envelope in burst[1:]))
    newest = Preferences(reminders=False, updates=False, show_paid=True)  # version 11
    await handled.all(*burst)
    view = await recipient_is(notifier, "ada", newest)
    assert view.version == await notifier.store.version(Recipient.stream_name("ada"))
