"""Reading and editing profiles. The public view never carries the email or the password hash."""

from typing import Any

from agora_common.errors import NotFound
from agora_common.events.users import ProfileUpdated
from agora_common.mongo import equals_ignoring_case
from agora_common.pagination import keyset_page
from agora_common.uow import UnitOfWork

from agora_users.adapters import store as c
from agora_users.adapters.store import Store
from agora_users.domain.titles import title_key
from agora_users.service import activity

PROFILE_FIELDS = ("display_name", "bio", "company", "industry", "city", "skills")


async def get_user(*, store: Store, user_id: str) -> dict:
    user = await store[c.USERS].find_one({"_id": user_id, "status": {"$ne": "deleted"}}, {"password_hash": 0})
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


async def sigs_of(*, store: Store, user_id: str) -> list[dict]:
    memberships = await store[c.SIG_MEMBERS].find({"user_id": user_id}).to_list()
    if not memberships:
        return []
    sigs = await store[c.SIGS].find({"_id": {"$in": [m["sig_id"] for m in memberships]}}).sort("name").to_list()
    return [{"id": s["_id"], "name": s["name"], "slug": s["slug"], "lead": user_id in s.get("leads", [])}
            for s in sigs]


async def follow_counts(*, store: Store, user_id: str) -> dict[str, int]:
    return {
        "followers": await store[c.FOLLOWS].count_documents({"kind": "user", "target": user_id}),
        "following": await store[c.FOLLOWS].count_documents({"kind": "user", "follower_id": user_id}),
    }


async def profile(*, store: Store, user_id: str) -> dict[str, Any]:
    """The user document plus what the profile page shows: SIGs and follower counts."""
    user = await get_user(store=store, user_id=user_id)
    return {**user, "sigs": await sigs_of(store=store, user_id=user_id),
            **await follow_counts(store=store, user_id=user_id)}


async def update_profile(*, store: Store, user_id: str, changes: dict[str, Any]) -> dict:
    changes = {k: v for k, v in changes.items() if k in PROFILE_FIELDS}
    if "skills" in changes:
        changes["skills"] = _unique([s.strip() for s in changes["skills"] or [] if s.strip()])

    async def work(tx: UnitOfWork) -> dict:
        user = await tx.bump(c.USERS, {"_id": user_id, "status": {"$ne": "deleted"}}, {"$set": changes})
        if user is None:
            raise NotFound(f"user {user_id} not found")
        tx.emit(
            ProfileUpdated(user_id=user_id, display_name=user["display_name"], company=user.get("company"),
                           industry=user.get("industry"), city=user.get("city"), skills=user.get("skills", [])),
            subject=user_id, version=user["version"], actor=user_id,
        )
        return user

    await store.transactions.run(work)
    return await profile(store=store, user_id=user_id)


async def public_profiles(*, store: Store, ids: list[str]) -> list[dict]:
    users = await store[c.USERS].find({"_id": {"$in": ids}, "status": {"$ne": "deleted"}},
                                      {"email": 0, "email_key": 0, "password_hash": 0}).to_list()
    return users


def _unique(items: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for item in items:
        if item.casefold() not in seen:
            seen.add(item.casefold())
            out.append(item)
    return out


def member_query(*, status: str | None = None, role: str | None = None, industry: str | None = None,
                 city: str | None = None, skill: str | None = None, title: str | None = None) -> dict[str, Any]:
    """The members directory's filters as one query on the users collection (deleted accounts never match): the
    directory lists with it, and user groups evaluate their saved filter with it when an announcement is sent."""
    query: dict[str, Any] = {"status": status} if status else {"status": {"$ne": "deleted"}}
    if role:
        query["roles"] = role
    if industry:
        query["industry"] = industry
    if city:
        query["city"] = equals_ignoring_case(city)
    if skill:
        query["skills"] = skill
    if title:
        query["titles.key"] = title_key(title)
    return query


async def matching_query(*, store: Store, sig_id: str | None = None, segment: str | None = None,
                         **filters: str | None) -> dict[str, Any]:
    """`member_query` plus members of a SIG and of a segment now (the segment exports' computation): what the
    directory lists and what a user group's saved filter selects when it is used."""
    clauses = [member_query(**filters)]
    if sig_id:
        members = await store[c.SIG_MEMBERS].find({"sig_id": sig_id}, {"user_id": 1}).to_list()
        clauses.append({"_id": {"$in": sorted(m["user_id"] for m in members)}})
    if segment:
        clauses.append((await activity.segment_sets(store=store)).users_query(segment))
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


async def directory(*, store: Store, status: str | None, role: str | None, limit: int, cursor: str | None,
                    industry: str | None = None, city: str | None = None, skill: str | None = None,
                    title: str | None = None, sig_id: str | None = None,
                    segment: str | None = None) -> tuple[list[dict], str | None]:
    """Accounts for moderators, oldest first by id (UUIDv7, so registration order), and the next page's cursor."""
    query = await matching_query(store=store, sig_id=sig_id, segment=segment, status=status, role=role,
                                 industry=industry, city=city, skill=skill, title=title)
    listing = "directory:" + ":".join(str(v) for v in (status, role, industry, city, skill, title, sig_id, segment))
    return await keyset_page(store[c.USERS], query, listing=listing, order=[("_id", 1)],
                             limit=limit, cursor=cursor, projection={"email": 0, "email_key": 0, "password_hash": 0})
