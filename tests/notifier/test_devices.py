"""A user's devices without I/O: registering again, the limit, removing."""

from datetime import UTC, datetime, timedelta

from services.notifier.devices import MAX_DEVICES, DeviceRemoved, UserDevices

T0 = datetime(2030, 5, 17, 18, 0, tzinfo=UTC)


def test_a_device_registered_again_changes_nothing() -> None:
    devices = UserDevices("ada")
    devices.register("phone", "android", T0)
    devices.register("phone", "android", T0 + timedelta(hours=1))
    assert len(devices.pending) == 1
    assert [(d.token, d.platform, d.created_at) for d in devices.listed()] == [
        ("phone", "android", T0)
    ]


def test_beyond_the_limit_a_new_device_replaces_the_oldest() -> None:
    devices = UserDevices("ada")
    for n in range(MAX_DEVICES):
        devices.register(f"phone-{n}", "ios", T0 + timedelta(minutes=n))
    devices.register("new-phone", "ios", T0 + timedelta(days=1))
    tokens = [d.token for d in devices.listed()]
    assert len(tokens) == MAX_DEVICES
    assert tokens[0] == "phone-1" and tokens[-1] == "new-phone"
    assert DeviceRemoved(user_id="ada", token="phone-0", reason="replaced") in devices.pending


def test_removing_an_unknown_device_changes_nothing() -> None:
    devices = UserDevices("ada")
    devices.register("phone", "web", T0)
    devices.remove("tablet", "user")
    devices.remove("phone", "dead")
    devices.remove("phone", "dead")
    assert devices.listed() == []
    assert len(devices.pending) == 2
