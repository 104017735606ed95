"""What credits cost: the packs on sale."""

from __future__ import annotations

from fastapi import APIRouter

from contracts import ErrorCode
from contracts.wallet import ListCreditPacks
from services.gateway.dependencies import GatewayDep
from services.gateway.errors import responses
from services.gateway.schemas import CreditPackOut

router = APIRouter(tags=["credits"])


# Public: prices are shown before anyone signs up.
@router.get("/credit-packs", responses=responses(ErrorCode.SERVICE_UNAVAILABLE))
async def credit_packs(gateway: GatewayDep) -> list[CreditPackOut]:
    """The credit packs on sale; buy one with POST /me/credits/checkout."""
    packs = await gateway.ask("wallet", ListCreditPacks())
    return [CreditPackOut.model_validate(pack) for pack in packs]
