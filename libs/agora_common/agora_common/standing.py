"""A member's standing (suspended, deleted) as each service learns it from the users topic, and the check every
member write makes. Each service keeps its own copy, in its own database (collection `members`): revocation
reaches a service within its consumer's lag, however long the member's access token still lives.

    HANDLERS = standing_handlers("events.members", on_deleted=free_their_places)
    await ensure_in_good_standing(db=ctx.db, user=user, uow=uow)   # 403 account_suspended / account_deleted
"""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from agora_common.auth import Principal
from agora_common.errors import Forbidden
from agora_common.events import Envelope
from agora_common.events.dispatch import EventHandlers
from agora_common.events.users import UserDeleted, UserReinstated, UserSuspended
from agora_common.mongo import upsert_if_newer
from agora_common.uow import UnitOfWork

MEMBERS = "members"


async def ensure_in_good_standing(*, db: AsyncDatabase, user: Principal, uow: UnitOfWork | None = None) -> None:
    """Refuse a suspended or deleted member (403). Inside a unit of work the check also writes the member's record,
    so a deletion applied at the same moment conflicts with this change and one of the two runs again: the write
    cannot slip in after the deletion's clean-up (a place kept by a deleted account)."""
    if uow is None:
        member = await db[MEMBERS].find_one({"_id": user.id})
    else:
        member = await db[MEMBERS].find_one_and_update(
            {"_id": user.id}, {"$inc": {"writes": 1}}, upsert=True, return_document=ReturnDocument.AFTER,
            session=uow.session)
    if not member:
        return
    if member.get("deleted"):
        raise Forbidden("this account has been deleted", code="account_deleted")
    if member.get("suspended"):
        until: datetime | None = member.get("suspended_until")
        if until is not None and until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
        if until is None or until > datetime.now(UTC):
            raise Forbidden(
                "your account is suspended" + (f" until {until.isoformat()}" if until else ""),
                code="account_suspended", details={"until": until.isoformat() if until else None},
            )


def standing_handlers(name: str, *, on_deleted: Callable[..., Awaitable[Any]] | None = None) -> EventHandlers:
    """A consumer registry that records suspensions, reinstatements and deletions; handlers take `db=`.
    `on_deleted(user_id, **deps)` then frees or anonymises what the service holds for the account (idempotent:
    it runs again on a replay)."""
    handlers: EventHandlers[Any] = EventHandlers(name)

    @handlers.on(UserSuspended)
    async def _suspended(event: UserSuspended, envelope: Envelope, *, db: AsyncDatabase, **_: Any) -> None:
        await upsert_if_newer(db[MEMBERS], event.user_id, envelope.version, {"suspended": True, "suspended_until": event.until})

    @handlers.on(UserReinstated)
    async def _reinstated(event: UserReinstated, envelope: Envelope, *, db: AsyncDatabase, **_: Any) -> None:
        await upsert_if_newer(db[MEMBERS], event.user_id, envelope.version, {"suspended": False, "suspended_until": None})

    @handlers.on(UserDeleted)
    async def _deleted(event: UserDeleted, envelope: Envelope, *, db: AsyncDatabase, **deps: Any) -> None:
        await upsert_if_newer(db[MEMBERS], event.user_id, envelope.version, {"deleted": True})
        if on_deleted is not None:
            await on_deleted(event.user_id, db=db, **deps)

    return handlers
