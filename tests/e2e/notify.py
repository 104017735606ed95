"""Helpers for end-to-end tests of notifications: preferences the notifier knows,
devices, and campaigns the notifier has finished."""

from __future__ import annotations

from typing import Any

import httpx

from services.notifier.campaigns import Campaigns
from services.notifier.store import Recipients
from tests.support import eventually


async def user_id(http: httpx.AsyncClient, user: dict[str, str]) -> str:
    return str((await http.get("/me", headers=user)).json()["id"])


async def prefer(
    http: httpx.AsyncClient, notifier_db: Any, user: dict[str, str], **preferences: bool
) -> str:
    """Set the user's preferences, and wait until the notifier applies them; their id."""
    changed = await http.patch("/me/preferences", headers=user, json=preferences)
    assert changed.status_code == 200, changed.text
    uid = await user_id(http, user)

    async def known() -> bool:
        view = await Recipients(notifier_db).get(uid)
        return (
            view is not None
            and view.added
            and all(getattr(view.preferences, k) is v for k, v in preferences.items())
        )

    await eventually(known, timeout=15)
    return uid


async def device(http: httpx.AsyncClient, user: dict[str, str], token: str) -> None:
    registered = await http.post(
        "/me/devices", headers=user, json={"token": token, "platform": "android"}
    )
    assert registered.status_code == 201, registered.text


async def campaign_done(notifier_db: Any, campaign_id: str, timeout: float = 30) -> dict[str, Any]:
    """The campaign's delivery counts once every chunk of it is sent."""

    async def done() -> dict[str, Any] | None:
        delivery = await Campaigns(notifier_db).delivery(campaign_id)
        return delivery.model_dump() if delivery is not None and delivery.done else None

    return await eventually(done, timeout=timeout)


async def inbox(http: httpx.AsyncClient, user: dict[str, str]) -> list[dict[str, Any]]:
    page = await http.get("/me/notifications", headers=user)
    assert page.status_code == 200, page.text
    items: list[dict[str, Any]] = page.json()["items"]
    return items
