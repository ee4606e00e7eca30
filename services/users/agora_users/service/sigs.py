"""Special interest groups: operators create them and assign leads; members join and leave."""

import re

from agora_common.errors import Conflict, Forbidden, InvalidInput, NotFound
from agora_common.events.users import SigCreated, SigJoined, SigLeadAssigned, SigLeadRemoved, SigLeft
from agora_common.idempotency import create_once
from agora_common.ids import new_id, utcnow
from agora_common.uow import UnitOfWork
from pymongo.errors import DuplicateKeyError

from agora_users.adapters import store as c
from agora_users.adapters.store import Store
from agora_users.domain.users import normalize_tag


def slugify(name: str) -> str:
    return re.sub(r"[^\w]+", "-", name.casefold(), flags=re.UNICODE).strip("-")


async def create(*, store: Store, name: str, slug: str | None, description: str | None, tags: list[str],
                 operator_id: str, idempotency_key: str | None = None) -> tuple[dict, bool]:
    """With an Idempotency-Key, a retry answers with the SIG the first request created instead of 409
    `slug_taken`. Returns (SIG, replayed)."""
    slug = slugify(slug or name)
    if not slug:
        raise InvalidInput("the SIG needs a name or slug with letters or digits", code="invalid_slug")
    now = utcnow()
    sig = {"_id": new_id(), "name": name.strip(), "slug": slug, "description": description,
           "tags": sorted({normalize_tag(t) for t in tags if t.strip()}), "leads": [], "member_count": 0,
           "created_by": operator_id, "created_at": now, "updated_at": now, "version": 1}

    async def work(tx: UnitOfWork) -> str:
        await tx.db[c.SIGS].insert_one(sig, session=tx.session)
        tx.emit(SigCreated(sig_id=sig["_id"], name=sig["name"], slug=slug, tags=sig["tags"], created_by=operator_id),
                subject=sig["_id"], version=1, actor=operator_id)
        return sig["_id"]

    try:
        sig_id, replayed = await create_once(
            db=store.db, run=store.transactions.run, user_id=operator_id, scope="sig", key=idempotency_key,
            payload={"name": name, "slug": slug, "description": description, "tags": sig["tags"]}, body=work)
    except DuplicateKeyError as exc:
        raise Conflict(f"a SIG with the slug {slug!r} already exists", code="slug_taken") from exc
    return (await get(store=store, sig_id=sig_id) if replayed else sig), replayed


async def get(*, store: Store, sig_id: str) -> dict:
    sig = await store[c.SIGS].find_one({"_id": sig_id})
    if sig is None:
        raise NotFound(f"SIG {sig_id} not found")
    return sig


async def list_all(*, store: Store) -> list[dict]:
    return await store[c.SIGS].find().sort("name").to_list()


async def _active_user(tx: UnitOfWork, user_id: str) -> dict:
    user = await tx.db[c.USERS].find_one({"_id": user_id, "status": {"$ne": "deleted"}}, {"_id": 1},
                                            session=tx.session)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


async def join(*, store: Store, sig_id: str, user_id: str) -> bool:
    """Returns False when the user was already a member (joining is idempotent)."""

    async def work(tx: UnitOfWork) -> bool:
        await _active_user(tx, user_id)
        key = f"{sig_id}:{user_id}"
        if await tx.db[c.SIG_MEMBERS].find_one({"_id": key}, session=tx.session):
            if not await tx.db[c.SIGS].find_one({"_id": sig_id}, {"_id": 1}, session=tx.session):
                raise NotFound(f"SIG {sig_id} not found")
            return False
        sig = await tx.bump(c.SIGS, {"_id": sig_id}, {"$inc": {"member_count": 1}})
        if sig is None:
            raise NotFound(f"SIG {sig_id} not found")
        await tx.db[c.SIG_MEMBERS].insert_one(
            {"_id": key, "sig_id": sig_id, "user_id": user_id, "joined_at": utcnow()}, session=tx.session
        )
        tx.emit(SigJoined(sig_id=sig_id, user_id=user_id), subject=sig_id, version=sig["version"], actor=user_id)
        return True

    try:  # joins of one SIG all count on its document: queued, not conflicting, in this process
        return await store.transactions.run(work, one_at_a_time=[f"sig:{sig_id}"])
    except DuplicateKeyError:
        return False  # a concurrent join of the same user won


async def leave(*, store: Store, sig_id: str, user_id: str, actor_id: str | None = None,
                actor_roles: list[str] | None = None) -> None:
    """A member leaves, or an operator or one of the SIG's leads removes them. A leaving lead stops leading."""
    actor_id = actor_id or user_id

    async def work(tx: UnitOfWork) -> None:
        sig = await tx.db[c.SIGS].find_one({"_id": sig_id}, session=tx.session)
        if sig is None:
            raise NotFound(f"SIG {sig_id} not found")
        if actor_id != user_id and "operator" not in (actor_roles or []) and actor_id not in sig["leads"]:
            raise Forbidden("only operators and the SIG's leads can remove other members", code="not_a_lead")
        removed = await tx.db[c.SIG_MEMBERS].delete_one({"_id": f"{sig_id}:{user_id}"}, session=tx.session)
        if removed.deleted_count == 0:
            raise NotFound(f"user {user_id} is not a member of SIG {sig_id}", code="not_a_member")
        was_lead = user_id in sig["leads"]
        events = 2 if was_lead else 1
        sig = await tx.bump(c.SIGS, {"_id": sig_id}, {"$inc": {"member_count": -1}, "$pull": {"leads": user_id}},
                            events=events)
        version = sig["version"] - events + 1
        if was_lead:
            tx.emit(SigLeadRemoved(sig_id=sig_id, user_id=user_id, removed_by=actor_id), subject=sig_id,
                    version=version, actor=actor_id)
            version += 1
        tx.emit(SigLeft(sig_id=sig_id, user_id=user_id), subject=sig_id, version=version, actor=actor_id)

    await store.transactions.run(work, one_at_a_time=[f"sig:{sig_id}"])


async def members(*, store: Store, sig_id: str, limit: int, after: str | None) -> list[dict]:
    await get(store=store, sig_id=sig_id)
    query: dict = {"sig_id": sig_id}
    if after:
        query["_id"] = {"$gt": f"{sig_id}:{after}"}
    rows = await store[c.SIG_MEMBERS].find(query).sort("_id", 1).limit(limit).to_list()
    users = {u["_id"]: u for u in await store[c.USERS].find(
        {"_id": {"$in": [r["user_id"] for r in rows]}}, {"display_name": 1}).to_list()}
    return [{"user_id": r["user_id"], "display_name": users.get(r["user_id"], {}).get("display_name"),
             "joined_at": r["joined_at"]} for r in rows]


async def assign_lead(*, store: Store, sig_id: str, user_id: str, operator_id: str) -> dict:
    """A lead must be a member: assigning a non-member makes them join first."""

    async def work(tx: UnitOfWork) -> dict:
        await _active_user(tx, user_id)
        sig = await tx.db[c.SIGS].find_one({"_id": sig_id}, session=tx.session)
        if sig is None:
            raise NotFound(f"SIG {sig_id} not found")
        if user_id in sig["leads"]:
            raise Conflict("the user already leads this SIG", code="already_lead")
        key = f"{sig_id}:{user_id}"
        joining = not await tx.db[c.SIG_MEMBERS].find_one({"_id": key}, session=tx.session)
        events = 2 if joining else 1
        update: dict = {"$addToSet": {"leads": user_id}}
        if joining:
            update["$inc"] = {"member_count": 1}
            await tx.db[c.SIG_MEMBERS].insert_one(
                {"_id": key, "sig_id": sig_id, "user_id": user_id, "joined_at": utcnow()}, session=tx.session
            )
        sig = await tx.bump(c.SIGS, {"_id": sig_id}, update, events=events)
        version = sig["version"] - events + 1
        if joining:
            tx.emit(SigJoined(sig_id=sig_id, user_id=user_id), subject=sig_id, version=version, actor=operator_id)
            version += 1
        tx.emit(SigLeadAssigned(sig_id=sig_id, user_id=user_id, assigned_by=operator_id), subject=sig_id,
                version=version, actor=operator_id)
        return sig

    return await store.transactions.run(work)


async def remove_lead(*, store: Store, sig_id: str, user_id: str, operator_id: str) -> dict:
    async def work(tx: UnitOfWork) -> dict:
        sig = await tx.bump(c.SIGS, {"_id": sig_id, "leads": user_id}, {"$pull": {"leads": user_id}})
        if sig is None:
            await get(store=store, sig_id=sig_id)  # 404 if the SIG itself does not exist
            raise NotFound("the user does not lead this SIG", code="not_a_lead")
        tx.emit(SigLeadRemoved(sig_id=sig_id, user_id=user_id, removed_by=operator_id), subject=sig_id,
                version=sig["version"], actor=operator_id)
        return sig

    return await store.transactions.run(work)
