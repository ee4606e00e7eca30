from typing import Annotated, Any

from agora_common.auth import Operator
from fastapi import APIRouter, Body

from agora_events.api.deps import ERRORS, AppCtx
from agora_events.api.schemas import CancelRequest, IssuerRead, RevokeResult, VerifyResult
from agora_events.service import certificates

router = APIRouter(prefix="/certificates", tags=["certificates"])


@router.get("/issuer", response_model=IssuerRead, summary="The issuer's did:key (public key) to verify offline")
async def issuer(ctx: AppCtx) -> dict:
    return certificates.issuer(ctx)


@router.post("/verify", response_model=VerifyResult, summary="Verify a certificate (public)",
             responses={422: {"description": "forged, altered, unknown or revoked (error.details.reason)"}})
async def verify(ctx: AppCtx, credential: Annotated[dict[str, Any], Body(description="the signed credential JSON")]) -> dict:
    return await certificates.verify(ctx=ctx, signed=credential)


@router.get("/{certificate_id}", summary="A certificate: Open Badges 3.0 credential with its proof (public)",
            responses={404: {"description": "no such certificate"}})
async def get_certificate(certificate_id: str, ctx: AppCtx) -> dict:
    return await certificates.get(ctx=ctx, certificate_id=certificate_id)


@router.post("/{certificate_id}/revoke", response_model=RevokeResult, responses=ERRORS,
             summary="Revoke a certificate (operators); verification rejects it afterwards (CertificateRevoked)")
async def revoke(certificate_id: str, user: Operator, ctx: AppCtx, body: CancelRequest | None = None) -> dict:
    return await certificates.revoke(ctx=ctx, certificate_id=certificate_id, reason=body.reason if body else None,
                                     user=user)
