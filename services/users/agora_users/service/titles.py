"""Honor titles: granted and revoked by operators (with a reason) or by the points service; every change is
kept in an audit trail and published. An operator's title may have a scope ("tag:kubernetes": the community's
expert for that tag); a title is held at most once per scope, and the unscoped one is a scope of its own."""

from agora_common.errors import Conflict, InvalidInput, NotFound
from agora_common.events.users import HonorTitleGranted, HonorTitleRevoked
from agora_common.idempotency import create_once
from agora_common.ids import new_id, utcnow
from agora_common.uow import UnitOfWork, WriteConflict

from agora_users.adapters import store as c
from agora_users.adapters.store import Store
from agora_users.domain.titles import BUILT_IN_TITLES, MAX_TITLE_LENGTH, clean_scope, clean_title, title_key

POINTS = "points"  # granted_by / revoked_by for automatic changes


def normalize_scope(scope: str | None) -> str | None:
    """A scope as stored and published ("tag:kubernetes"), or None; 422 `invalid_scope` for anything else."""
    if scope is None:
        return None
    cleaned = clean_scope(scope)
    if cleaned is None:
        raise InvalidInput(f"invalid scope {scope!r}: use tag:<tag> (a tag of 1-35 of a-z 0-9 . + # _ -)",
                           code="invalid_scope")
    return cleaned


def _held(user: dict, key: str, scope: str | None) -> dict | None:
    return next((t for t in user.get("titles", []) if t["key"] == key and t.get("scope") == scope), None)


async def grant_in(tx: UnitOfWork, *, user_id: str, title: str, by: str, reason: str | None,
                   source_event: str | None = None, scope: str | None = None) -> dict | None:
    """Grant inside a transaction; returns the title entry, or None if the user already holds it (in that scope)."""
    title = clean_title(title)
    if not title or len(title) > MAX_TITLE_LENGTH:
        raise InvalidInput(f"a title has 1 to {MAX_TITLE_LENGTH} characters", code="invalid_title")
    scope = normalize_scope(scope)
    now = utcnow()
    entry = {"title": title, "key": title_key(title), "scope": scope, "granted_by": by,
             "source": POINTS if by == POINTS else "operator", "reason": reason, "granted_at": now}
    current = await tx.db[c.USERS].find_one({"_id": user_id, "status": {"$ne": "deleted"}}, {"titles": 1, "version": 1},
                                            session=tx.session)
    if current is None:
        raise NotFound(f"user {user_id} not found")
    if _held(current, entry["key"], scope) is not None:
        return None
    # the version check makes a concurrent grant of the same title conflict and re-run (then it is held)
    user = await tx.bump(c.USERS, {"_id": user_id, "version": current.get("version")}, {"$push": {"titles": entry}})
    if user is None:
        raise WriteConflict(f"user {user_id} changed since it was read")
    await _audit(tx, user_id=user_id, title=title, action="granted", by=by, reason=reason, source_event=source_event,
                 scope=scope)
    tx.emit(HonorTitleGranted(user_id=user_id, title=title, granted_by=by, reason=reason, scope=scope),
            subject=user_id, version=user["version"], actor=None if by == POINTS else by)
    return entry


async def revoke_in(tx: UnitOfWork, *, user_id: str, title: str, by: str, reason: str | None,
                    only_automatic: bool = False, source_event: str | None = None, scope: str | None = None) -> bool:
    """Revoke inside a transaction (the title in `scope`; None: the unscoped one); False if the user does not hold
    it (or, with only_automatic, holds it from an operator: the points service cannot take back what an operator
    granted)."""
    key = title_key(title)
    scope = normalize_scope(scope)
    user = await tx.db[c.USERS].find_one({"_id": user_id, "status": {"$ne": "deleted"}}, session=tx.session)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    held = _held(user, key, scope)
    if held is None or (only_automatic and held.get("source") != POINTS):
        return False
    kept = [t for t in user.get("titles", []) if t is not held]
    user = await tx.bump(c.USERS, {"_id": user_id, "version": user.get("version")}, {"$set": {"titles": kept}})
    if user is None:
        raise WriteConflict(f"user {user_id} changed since it was read")
    await _audit(tx, user_id=user_id, title=held["title"], action="revoked", by=by, reason=reason,
                 source_event=source_event, scope=scope)
    tx.emit(HonorTitleRevoked(user_id=user_id, title=held["title"], revoked_by=by, reason=reason, scope=scope),
            subject=user_id, version=user["version"], actor=None if by == POINTS else by)
    return True


async def _audit(tx: UnitOfWork, *, user_id: str, title: str, action: str, by: str, reason: str | None,
                 source_event: str | None, scope: str | None = None) -> None:
    await tx.db[c.TITLE_AUDIT].insert_one(
        {"_id": new_id(), "user_id": user_id, "title": title, "scope": scope, "action": action, "by": by,
         "reason": reason, "source_event": source_event, "at": utcnow()},
        session=tx.session,
    )


def _named(title: str, scope: str | None) -> str:
    return f"{clean_title(title)!r}" + (f" for {scope}" if scope else "")


async def grant(*, store: Store, user_id: str, title: str, operator_id: str, reason: str | None,
                idempotency_key: str | None = None, scope: str | None = None) -> tuple[dict, bool]:
    """An operator grants a title (scoped: "tag:kubernetes"). With an Idempotency-Key, a retry answers with the title
    the first request granted instead of 409 `title_held`. Returns (title entry, replayed)."""
    scope = normalize_scope(scope)
    fresh: dict | None = None

    async def work(tx: UnitOfWork) -> str:
        nonlocal fresh
        fresh = await grant_in(tx, user_id=user_id, title=title, by=operator_id, reason=reason, scope=scope)
        if fresh is None:
            raise Conflict(f"the user already holds the title {_named(title, scope)}", code="title_held")
        return fresh["key"]

    key, replayed = await create_once(
        db=store.db, run=store.transactions.run, user_id=operator_id, scope=f"title:{user_id}", key=idempotency_key,
        payload={"title": title, "reason": reason, "scope": scope}, body=work)
    if fresh is not None and not replayed:
        return fresh, False
    user = await store[c.USERS].find_one({"_id": user_id, "status": {"$ne": "deleted"}}, {"titles": 1})
    entry = _held(user or {}, key, scope)
    if entry is None:  # revoked (or the account deleted) since the first request
        raise NotFound(f"the user no longer holds the title {_named(title, scope)}", code="title_not_held")
    return entry, replayed


async def revoke(*, store: Store, user_id: str, title: str, operator_id: str, reason: str | None,
                 scope: str | None = None) -> None:
    async def work(tx: UnitOfWork) -> bool:
        return await revoke_in(tx, user_id=user_id, title=title, by=operator_id, reason=reason, scope=scope)

    if not await store.transactions.run(work):
        raise NotFound(f"the user does not hold the title {_named(title, normalize_scope(scope))}",
                       code="title_not_held")


async def audit_trail(*, store: Store, user_id: str, limit: int = 100) -> list[dict]:
    return await store[c.TITLE_AUDIT].find({"user_id": user_id}).sort("at", -1).limit(limit).to_list()


async def catalogue(*, store: Store) -> list[dict]:
    """Built-in titles and every custom title in use, with how many members hold each (a member holding a title in
    several scopes counts once)."""
    held = await (await store[c.USERS].aggregate([
        {"$match": {"status": {"$ne": "deleted"}}},
        {"$unwind": "$titles"},
        {"$group": {"_id": {"key": "$titles.key", "user": "$_id"}, "title": {"$first": "$titles.title"}}},
        {"$group": {"_id": "$_id.key", "title": {"$first": "$title"}, "holders": {"$sum": 1}}},
    ])).to_list()
    by_key = {row["_id"]: {"title": row["title"], "holders": row["holders"], "built_in": False} for row in held}
    for title in BUILT_IN_TITLES:
        entry = by_key.setdefault(title_key(title), {"title": title, "holders": 0})
        entry["built_in"] = True
    return sorted(by_key.values(), key=lambda e: (not e["built_in"], title_key(e["title"])))
