"""Following members and tags. Follows are the follower's aggregate: events carry the follower's version."""

from agora_common.errors import InvalidInput, NotFound
from agora_common.events.users import TagFollowed, TagUnfollowed, UserFollowed, UserUnfollowed
from agora_common.ids import utcnow
from agora_common.uow import UnitOfWork
from pymongo.errors import DuplicateKeyError

from agora_users.adapters import store as c
from agora_users.adapters.store import Store
from agora_users.domain.users import normalize_tag

MAX_TAG_LENGTH = 50


def _key(follower_id: str, kind: str, target: str) -> str:
    return f"{follower_id}:{kind}:{target}"


async def follow(*, store: Store, follower_id: str, kind: str, target: str) -> bool:
    """Returns False when already following (idempotent)."""
    if kind == "tag":
        target = normalize_tag(target)
        if not target or len(target) > MAX_TAG_LENGTH:
            raise InvalidInput(f"a tag has 1 to {MAX_TAG_LENGTH} characters", code="invalid_tag")
    elif target == follower_id:
        raise InvalidInput("you cannot follow yourself", code="self_follow")

    async def work(tx: UnitOfWork) -> bool:
        if kind == "user" and not await tx.db[c.USERS].find_one(
            {"_id": target, "status": {"$ne": "deleted"}}, {"_id": 1}, session=tx.session
        ):
            raise NotFound(f"user {target} not found")
        key = _key(follower_id, kind, target)
        if await tx.db[c.FOLLOWS].find_one({"_id": key}, session=tx.session):
            return False
        await tx.db[c.FOLLOWS].insert_one(
            {"_id": key, "follower_id": follower_id, "kind": kind, "target": target, "at": utcnow()},
            session=tx.session,
        )
        user = await tx.bump(c.USERS, {"_id": follower_id, "status": {"$ne": "deleted"}})
        if user is None:
            raise NotFound(f"user {follower_id} not found")
        event = (UserFollowed(follower_id=follower_id, followee_id=target) if kind == "user"
                 else TagFollowed(user_id=follower_id, tag=target))
        tx.emit(event, subject=follower_id, version=user["version"], actor=follower_id)
        return True

    try:
        return await store.transactions.run(work)
    except DuplicateKeyError:
        return False


async def unfollow(*, store: Store, follower_id: str, kind: str, target: str) -> None:
    if kind == "tag":
        target = normalize_tag(target)

    async def work(tx: UnitOfWork) -> None:
        removed = await tx.db[c.FOLLOWS].delete_one({"_id": _key(follower_id, kind, target)}, session=tx.session)
        if removed.deleted_count == 0:
            raise NotFound(f"you do not follow this {kind}", code="not_following")
        user = await tx.bump(c.USERS, {"_id": follower_id, "status": {"$ne": "deleted"}})
        if user is None:
            raise NotFound(f"user {follower_id} not found")
        event = (UserUnfollowed(follower_id=follower_id, followee_id=target) if kind == "user"
                 else TagUnfollowed(user_id=follower_id, tag=target))
        tx.emit(event, subject=follower_id, version=user["version"], actor=follower_id)

    await store.transactions.run(work)


async def following(*, store: Store, user_id: str) -> dict[str, list[str]]:
    rows = await store[c.FOLLOWS].find({"follower_id": user_id}).sort("at", 1).to_list()
    return {"users": [r["target"] for r in rows if r["kind"] == "user"],
            "tags": [r["target"] for r in rows if r["kind"] == "tag"]}


async def followers(*, store: Store, user_id: str, limit: int = 100) -> list[str]:
    rows = await store[c.FOLLOWS].find({"kind": "user", "target": user_id}).sort("at", 1).limit(limit).to_list()
    return [r["follower_id"] for r in rows]
