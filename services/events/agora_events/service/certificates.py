"""Certificates: fetch one, and verify one that somebody presents (public)."""

from agora_common.errors import InvalidInput, NotFound

from agora_events.adapters.mongo import CERTIFICATES
from agora_events.domain import credential
from agora_events.service.context import Ctx


async def get(*, ctx: Ctx, certificate_id: str) -> dict:
    doc = await ctx.db[CERTIFICATES].find_one({"_id": certificate_id})
    if doc is None:
        raise NotFound(f"certificate {certificate_id} not found")
    return doc["credential"]


def issuer(ctx: Ctx) -> dict:
    public = ctx.signing_key.public_key()
    return {
        "id": credential.did_key(public),
        "name": ctx.settings.cert_issuer_name,
        "verification_method": credential.verification_method(public),
        "cryptosuite": "eddsa-jcs-2022",
    }


class CredentialRejected(InvalidInput):
    code = "credential_invalid"


async def verify(*, ctx: Ctx, signed: dict) -> dict:
    """Valid = our signature over exactly this content, and a certificate we issued and have not revoked."""
    try:
        credential.verify(signed, ctx.signing_key.public_key())
    except credential.VerificationFailed as exc:
        raise CredentialRejected(str(exc), details={"reason": exc.reason}) from exc
    certificate_id = str(signed.get("id", "")).removeprefix("urn:uuid:")
    doc = await ctx.db[CERTIFICATES].find_one({"_id": certificate_id})
    if doc is None:
        raise CredentialRejected("this certificate was never issued by this service", details={"reason": "unknown"})
    if doc.get("revoked"):
        raise CredentialRejected("this certificate has been revoked", details={"reason": "revoked"})
    subject = signed["credentialSubject"]
    return {
        "valid": True,
        "certificate_id": certificate_id,
        "event_id": doc["event_id"],
        "user_id": doc["user_id"],
        "achievement": subject["achievement"]["name"],
        "issued_at": doc["issued_at"],
    }
