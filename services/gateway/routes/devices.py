"""The caller's devices: where their notifications are pushed (FCM registration tokens).

Kept by the notifier, which pushes to them and removes the ones FCM reports dead.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from contracts import ErrorCode
from contracts.notifier import (
    Device,
    Devices,
    DeviceToken,
    ListDevices,
    Platform,
    RegisterDevice,
    RemoveDevice,
)
from services.gateway.auth import CurrentUser
from services.gateway.dependencies import GatewayDep
from services.gateway.errors import ApiError, responses
from services.gateway.schemas import RequestBody

router = APIRouter(prefix="/me/devices", tags=["notifications"])


class DeviceRequest(RequestBody):
    token: DeviceToken
    platform: Platform


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=responses(
        ErrorCode.UNAUTHENTICATED, ErrorCode.VALIDATION_ERROR, ErrorCode.SERVICE_UNAVAILABLE
    ),
)
async def register_device(
    body: DeviceRequest, principal: CurrentUser, gateway: GatewayDep
) -> Device:
    """Push the caller's notifications to this device. Registering it again (apps do on
    every start) changes nothing; a user keeps the 10 devices registered last."""
    devices = await gateway.ask_for(
        Devices,
        "notifier",
        RegisterDevice(user_id=principal.user_id, token=body.token, platform=body.platform),
    )
    for device in devices.items:
        if device.token == body.token:
            return device
    raise ApiError(ErrorCode.INTERNAL_ERROR, "the device was not registered; try again")


@router.get("", responses=responses(ErrorCode.UNAUTHENTICATED, ErrorCode.SERVICE_UNAVAILABLE))
async def list_devices(principal: CurrentUser, gateway: GatewayDep) -> Devices:
    """The caller's devices, registered longest ago first."""
    return await gateway.ask_for(Devices, "notifier", ListDevices(user_id=principal.user_id))


@router.delete(
    "/{token}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(
        ErrorCode.UNAUTHENTICATED, ErrorCode.VALIDATION_ERROR, ErrorCode.SERVICE_UNAVAILABLE
    ),
)
async def remove_device(
    token: Annotated[DeviceToken, Path()],
    principal: CurrentUser,
    gateway: GatewayDep,
) -> Response:
    """Stop pushing to this device (a user logging out of the app). Removing a device
    that is not registered changes nothing."""
    await gateway.ask("notifier", RemoveDevice(user_id=principal.user_id, token=token))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
