"""A user's devices over HTTP: registered, listed, removed; bad input changes nothing."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import signup_and_login
from tests.e2e.test_free_vote_slice import error_code


async def tokens(http: httpx.AsyncClient, user: dict[str, str]) -> list[str]:
    listed = await http.get("/me/devices", headers=user)
    assert listed.status_code == 200, listed.text
    return [device["token"] for device in listed.json()["items"]]


async def test_a_device_is_registered_once_listed_and_removed(http: httpx.AsyncClient) -> None:
    ada = await signup_and_login(http, "ada")
    first = await http.post(
        "/me/devices", headers=ada, json={"token": "fcm:phone-1", "platform": "android"}
    )
    assert first.status_code == 201, first.text
    assert first.json()["token"] == "fcm:phone-1" and first.json()["platform"] == "android"
    again = await http.post(
        "/me/devices", headers=ada, json={"token": "fcm:phone-1", "platform": "android"}
    )
    assert again.status_code == 201
    assert again.json()["created_at"] == first.json()["created_at"]
    tablet = await http.post(
        "/me/devices", headers=ada, json={"token": "fcm:tablet-2", "platform": "ios"}
    )
    assert tablet.status_code == 201
    assert await tokens(http, ada) == ["fcm:phone-1", "fcm:tablet-2"]

    # Nobody else sees them.
    bob = await signup_and_login(http, "bob")
    assert await tokens(http, bob) == []

    removed = await http.delete("/me/devices/fcm:phone-1", headers=ada)
    assert removed.status_code == 204
    assert (await http.delete("/me/devices/never-registered", headers=ada)).status_code == 204
    assert await tokens(http, ada) == ["fcm:tablet-2"]


async def test_bad_device_input_is_refused_and_changes_nothing(http: httpx.AsyncClient) -> None:
    ada = await signup_and_login(http, "ada")
    for body in (
        {"token": "fcm:phone", "platform": "nokia"},
        {"token": "", "platform": "android"},
        {"token": "two words", "platform": "android"},
        # `%` would make the token's path segment ambiguous when it is removed.
        {"token": "A!%FF04H[", "platform": "android"},
        {"token": "x" * 4097, "platform": "web"},
        {"token": "fcm:phone"},
        {"token": "fcm:phone", "platform": "ios", "extra": 1},
    ):
        refused = await http.post("/me/devices", headers=ada, json=body)
        assert refused.status_code == 422, (body, refused.text)
        assert error_code(refused) == "VALIDATION_ERROR"
    anonymous = await http.post("/me/devices", json={"token": "fcm:phone", "platform": "ios"})
    assert anonymous.status_code == 401
    assert error_code(anonymous) == "UNAUTHENTICATED"
    assert (await http.delete("/me/devices/two%20words", headers=ada)).status_code == 422
    assert (await http.delete("/me/devices/A%21%FF04H", headers=ada)).status_code == 422
    assert await tokens(http, ada) == []
