"""Suspension and reinstatement by moderators."""

from datetime import datetime

from agora_common.errors import Conflict, Forbidden, InvalidInput, NotFound
from agora_common.events.users import UserReinstated, UserSuspended
from agora_common.ids import utcnow
from agora_common.uow import UnitOfWork

from agora_users.adapters import store as c
from agora_users.adapters.store import Store
from agora_users.domain.users import may_suspend


async def suspend(*, store: Store, user_id: str, moderator_id: str, moderator_roles: list[str], reason: str,
                  until: datetime | None) -> dict:
    now = utcnow()
    if until is not None and until <= now:
        raise InvalidInput("'until' must be in the future", code="invalid_until")
    if user_id == moderator_id:
        raise Forbidden("you cannot suspend yourself", code="self_suspension")

    async def work(tx: UnitOfWork) -> dict:
        target = await tx.db[c.USERS].find_one({"_id": user_id, "status": {"$ne": "deleted"}}, session=tx.session)
        if target is None:
            raise NotFound(f"user {user_id} not found")
        if not may_suspend(moderator_roles, target["roles"]):
            raise Forbidden("you may only suspend accounts below your own role", code="insufficient_rank")
        suspension = {"reason": reason, "until": until, "by": moderator_id, "at": now}
        user = await tx.bump(c.USERS, {"_id": user_id}, {"$set": {"status": "suspended", "suspension": suspension}})
        tx.emit(UserSuspended(user_id=user_id, moderator_id=moderator_id, reason=reason, until=until),
                subject=user_id, version=user["version"], actor=moderator_id)
        # a suspended member cannot refresh; access tokens lapse within their short lifetime
        await tx.db[c.REFRESH_TOKENS].update_many({"user_id": user_id}, {"$set": {"revoked": True}},
                                                     session=tx.session)
        return user

    return await store.transactions.run(work)


async def reinstate(*, store: Store, user_id: str, moderator_id: str, moderator_roles: list[str]) -> dict:
    async def work(tx: UnitOfWork) -> dict:
        target = await tx.db[c.USERS].find_one({"_id": user_id, "status": {"$ne": "deleted"}}, session=tx.session)
        if target is None:
            raise NotFound(f"user {user_id} not found")
        if target["status"] != "suspended":
            raise Conflict("the user is not suspended", code="not_suspended")
        if not may_suspend(moderator_roles, target["roles"]):
            raise Forbidden("you may only reinstate accounts below your own role", code="insufficient_rank")
        user = await tx.bump(c.USERS, {"_id": user_id}, {"$set": {"status": "active", "suspension": None}})
        tx.emit(UserReinstated(user_id=user_id, moderator_id=moderator_id), subject=user_id,
                version=user["version"], actor=moderator_id)
        return user

    return await store.transactions.run(work)
