"""Honor titles: granted and revoked by operators (with a reason) or by the points service; every change is
kept in an audit trail and published."""

from agora_common.errors import Conflict, InvalidInput, NotFound
from agora_common.events.users import HonorTitleGranted, HonorTitleRevoked
from agora_common.ids import new_id, utcnow
from agora_common.uow import UnitOfWork

from agora_users.adapters import store as c
from agora_users.adapters.store import Store
from agora_users.domain.titles import BUILT_IN_TITLES, MAX_TITLE_LENGTH, clean_title, title_key

POINTS = "points"  # granted_by / revoked_by for automatic changes


async def grant_in(tx: UnitOfWork, *, user_id: str, title: str, by: str, reason: str | None,
                   source_event: str | None = None) -> dict | None:
    """Grant inside a transaction; returns the title entry, or None if the user already holds it."""
    title = clean_title(title)
    if not title or len(title) > MAX_TITLE_LENGTH:
        raise InvalidInput(f"a title has 1 to {MAX_TITLE_LENGTH} characters", code="invalid_title")
    now = utcnow()
    entry = {"title": title, "key": title_key(title), "granted_by": by, "source": POINTS if by == POINTS else
             "operator", "reason": reason, "granted_at": now}
    user = await tx.bump(
        c.USERS, {"_id": user_id, "status": {"$ne": "deleted"}, "titles.key": {"$ne": entry["key"]}},
        {"$push": {"titles": entry}},
    )
    if user is None:
        exists = await tx.db[c.USERS].find_one({"_id": user_id, "status": {"$ne": "deleted"}}, {"_id": 1},
                                                  session=tx.session)
        if exists is None:
            raise NotFound(f"user {user_id} not found")
        return None
    await _audit(tx, user_id=user_id, title=title, action="granted", by=by, reason=reason, source_event=source_event)
    tx.emit(HonorTitleGranted(user_id=user_id, title=title, granted_by=by, reason=reason), subject=user_id,
            version=user["version"], actor=None if by == POINTS else by)
    return entry


async def revoke_in(tx: UnitOfWork, *, user_id: str, title: str, by: str, reason: str | None,
                    only_automatic: bool = False, source_event: str | None = None) -> bool:
    """Revoke inside a transaction; False if the user does not hold it (or, with only_automatic, holds it
    from an operator: the points service cannot take back what an operator granted)."""
    key = title_key(title)
    match: dict = {"key": key}
    if only_automatic:
        match["source"] = POINTS
    user = await tx.db[c.USERS].find_one({"_id": user_id, "status": {"$ne": "deleted"}}, session=tx.session)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    held = next((t for t in user.get("titles", []) if t["key"] == key), None)
    if held is None or (only_automatic and held.get("source") != POINTS):
        return False
    user = await tx.bump(c.USERS, {"_id": user_id}, {"$pull": {"titles": {"key": key}}})
    await _audit(tx, user_id=user_id, title=held["title"], action="revoked", by=by, reason=reason,
                 source_event=source_event)
    tx.emit(HonorTitleRevoked(user_id=user_id, title=held["title"], revoked_by=by, reason=reason), subject=user_id,
            version=user["version"], actor=None if by == POINTS else by)
    return True


async def _audit(tx: UnitOfWork, *, user_id: str, title: str, action: str, by: str, reason: str | None,
                 source_event: str | None) -> None:
    await tx.db[c.TITLE_AUDIT].insert_one(
        {"_id": new_id(), "user_id": user_id, "title": title, "action": action, "by": by, "reason": reason,
         "source_event": source_event, "at": utcnow()},
        session=tx.session,
    )


async def grant(*, store: Store, user_id: str, title: str, operator_id: str, reason: str | None) -> dict:
    async def work(tx: UnitOfWork) -> dict | None:
        return await grant_in(tx, user_id=user_id, title=title, by=operator_id, reason=reason)

    entry = await store.transactions.run(work)
    if entry is None:
        raise Conflict(f"the user already holds the title {clean_title(title)!r}", code="title_held")
    return entry


async def revoke(*, store: Store, user_id: str, title: str, operator_id: str, reason: str | None) -> None:
    async def work(tx: UnitOfWork) -> bool:
        return await revoke_in(tx, user_id=user_id, title=title, by=operator_id, reason=reason)

    if not await store.transactions.run(work):
        raise NotFound(f"the user does not hold the title {clean_title(title)!r}", code="title_not_held")


async def audit_trail(*, store: Store, user_id: str, limit: int = 100) -> list[dict]:
    return await store[c.TITLE_AUDIT].find({"user_id": user_id}).sort("at", -1).limit(limit).to_list()


async def catalogue(*, store: Store) -> list[dict]:
    """Built-in titles and every custom title in use, with how many members hold each."""
    held = await (await store[c.USERS].aggregate([
        {"$match": {"status": {"$ne": "deleted"}}},
        {"$unwind": "$titles"},
        {"$group": {"_id": "$titles.key", "title": {"$first": "$titles.title"}, "holders": {"$sum": 1}}},
    ])).to_list()
    by_key = {row["_id"]: {"title": row["title"], "holders": row["holders"], "built_in": False} for row in held}
    for title in BUILT_IN_TITLES:
        entry = by_key.setdefault(title_key(title), {"title": title, "holders": 0})
        entry["built_in"] = True
    return sorted(by_key.values(), key=lambda e: (not e["built_in"], title_key(e["title"])))
