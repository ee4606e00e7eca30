"""Certificates: fetch one, and verify one that somebody presents (public)."""

from datetime import UTC, datetime

from agora_common.auth import Principal
from agora_common.errors import Conflict, InvalidInput, NotFound
from agora_common.events.community import CertificateRevoked
from agora_common.uow import UnitOfWork

from agora_events.adapters.mongo import CERTIFICATES, EVENTS
from agora_events.domain import credential
from agora_events.service.context import Ctx, change_event, load_event, ref


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


async def revoke(*, ctx: Ctx, certificate_id: str, reason: str | None, user: Principal) -> dict:
    """Operators only (checked by the route). Published as CertificateRevoked on the training's stream."""
    doc = await ctx.db[CERTIFICATES].find_one({"_id": certificate_id})
    if doc is None:
        raise NotFound(f"certificate {certificate_id} not found")

    async def work(uow: UnitOfWork):
        event = await load_event(ctx, doc["event_id"], user=user, session=uow.session)
        result = await ctx.db[CERTIFICATES].update_one(
            {"_id": certificate_id, "revoked": False},
            {"$set": {"revoked": True, "revoked_at": datetime.now(UTC), "revoked_by": user.id,
                      "revoke_reason": reason}},
            session=uow.session,
        )
        if not result.modified_count:
            raise Conflict("this certificate is already revoked", code="already_revoked")
        after = await uow.bump(EVENTS, {"_id": event["_id"]}, {}, events=1)
        uow.emit_bumped(after, [CertificateRevoked(**ref(after), certificate_id=certificate_id,
                                                            user_id=doc["user_id"], reason=reason)], actor=user.id)
        return {"certificate_id": certificate_id, "revoked": True, "reason": reason}

    return await change_event(ctx, doc["event_id"], work)
