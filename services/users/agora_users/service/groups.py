"""User groups: whom an operator's announcement reaches. A group is either a saved filter over members, evaluated
each time it is used (listing its members, sending an announcement), or an explicit list of members.

The filter is the members directory's (`profiles.member_query`: industry, city in any case, skill, honor title,
role) plus a SIG and a segment (`activity.segment_sets`, the same computation as the segment exports); every
criterion given must hold, and an empty filter is every member. Deleted accounts are never members.

Members may mute a group unless it is `required` (mandatory operator notices): a muted member gets no inbox item
for that group's announcements (and so no mail either).
"""

from typing import Any

from agora_common.errors import Conflict, InvalidInput, NotFound
from agora_common.idempotency import create_once
from agora_common.ids import new_id, utcnow
from agora_common.pagination import keyset_page
from agora_common.uow import UnitOfWork
from pymongo.errors import DuplicateKeyError

from agora_users.adapters import store as c
from agora_users.adapters.store import Store
from agora_users.service import profiles

FILTER_FIELDS = ("sig_id", "segment", "industry", "city", "skill", "title", "role")
MAX_EXPLICIT_MEMBERS = 10_000  # a larger audience is a filter (or a SIG) rather than a list in one document
MEMBER_FIELDS = {"display_name": 1, "company": 1, "industry": 1, "city": 1, "skills": 1, "titles": 1}


def name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


async def create(*, store: Store, name: str, description: str | None, required: bool,
                 filter: dict[str, Any] | None, members: list[str] | None, operator_id: str,
                 idempotency_key: str | None = None) -> tuple[dict, bool]:
    """Returns (group, replayed); with an Idempotency-Key a retry answers with the first request's group."""
    definition = await _definition(store, filter, members)
    now = utcnow()
    group = {"_id": new_id(), "name": name, "name_key": name_key(name), "description": description,
             "required": required, **definition, "created_by": operator_id, "created_at": now, "updated_at": now,
             "version": 1}

    async def work(tx: UnitOfWork) -> str:
        await tx.db[c.GROUPS].insert_one(group, session=tx.session)
        return group["_id"]

    try:
        group_id, replayed = await create_once(
            db=store.db, run=store.transactions.run, user_id=operator_id, scope="group", key=idempotency_key,
            payload={"name": name, "description": description, "required": required, **definition}, body=work)
    except DuplicateKeyError as exc:
        raise Conflict(f"a group named {name!r} already exists", code="group_name_taken") from exc
    return (await get(store=store, group_id=group_id) if replayed else group), replayed


async def get(*, store: Store, group_id: str) -> dict:
    group = await store[c.GROUPS].find_one({"_id": group_id})
    if group is None:
        raise NotFound(f"group {group_id} not found")
    return group


async def list_page(*, store: Store, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
    """Groups by name, a page at a time (without explicit member lists: those are read as members)."""
    return await keyset_page(store[c.GROUPS], {}, listing="groups", order=[("name_key", 1), ("_id", 1)],
                             limit=limit, cursor=cursor, projection={"members": 0})


async def update(*, store: Store, group_id: str, changes: dict[str, Any]) -> dict:
    """`changes` holds only what the operator sent: name, description, required, and a new definition (filter
    or members, replacing the old one whatever its kind)."""
    fields: dict[str, Any] = {}
    if changes.get("name") is not None:
        fields["name"], fields["name_key"] = changes["name"], name_key(changes["name"])
    if "description" in changes:
        fields["description"] = changes["description"]
    if changes.get("required") is not None:
        fields["required"] = changes["required"]
    if changes.get("filter") is not None or changes.get("members") is not None:
        fields.update(await _definition(store, changes.get("filter"), changes.get("members")))

    async def work(tx: UnitOfWork) -> dict | None:
        return await tx.bump(c.GROUPS, {"_id": group_id}, {"$set": fields})

    try:
        group = await store.transactions.run(work)
    except DuplicateKeyError as exc:
        raise Conflict(f"a group named {changes['name']!r} already exists", code="group_name_taken") from exc
    if group is None:
        raise NotFound(f"group {group_id} not found")
    return group


async def delete(*, store: Store, group_id: str) -> None:
    """The group and its members' mutes go; its announcements stay (inbox items, replies)."""

    async def work(tx: UnitOfWork) -> int:
        deleted = (await tx.db[c.GROUPS].delete_one({"_id": group_id}, session=tx.session)).deleted_count
        await tx.db[c.GROUP_MUTES].delete_many({"group_id": group_id}, session=tx.session)
        return deleted

    if not await store.transactions.run(work):
        raise NotFound(f"group {group_id} not found")


async def members_query(*, store: Store, group: dict) -> dict:
    """The users-collection query for the group's members, evaluated now."""
    if group["kind"] == "members":
        return {"_id": {"$in": group["members"]}, "status": {"$ne": "deleted"}}
    flt = group.get("filter") or {}
    return await profiles.matching_query(
        store=store, sig_id=flt.get("sig_id"), segment=flt.get("segment"), role=flt.get("role"),
        industry=flt.get("industry"), city=flt.get("city"), skill=flt.get("skill"), title=flt.get("title"))


async def members_page(*, store: Store, group_id: str, limit: int,
                       cursor: str | None) -> tuple[list[dict], str | None]:
    """The group's members now, by id (registration order), with whether each muted the group."""
    group = await get(store=store, group_id=group_id)
    query = await members_query(store=store, group=group)
    docs, next_cursor = await keyset_page(store[c.USERS], query, listing=f"group-members:{group_id}",
                                          order=[("_id", 1)], limit=limit, cursor=cursor, projection=MEMBER_FIELDS)
    muted = await muted_among(store=store, group_id=group_id, user_ids=[d["_id"] for d in docs])
    return [{**d, "muted": d["_id"] in muted} for d in docs], next_cursor


async def member_count(*, store: Store, group: dict) -> int:
    return await store[c.USERS].count_documents(await members_query(store=store, group=group))


async def muted_among(*, store: Store, group_id: str, user_ids: list[str], session=None) -> set[str]:
    if not user_ids:
        return set()
    rows = await store[c.GROUP_MUTES].find({"_id": {"$in": [mute_id(group_id, u) for u in user_ids]}},
                                           {"user_id": 1}, session=session).to_list()
    return {r["user_id"] for r in rows}


def mute_id(group_id: str, user_id: str) -> str:
    return f"{group_id}:{user_id}"


async def mute(*, store: Store, group_id: str, user_id: str) -> dict:
    """Idempotent: muting a muted group answers with the mute there is. 409 `group_required` for a required group."""
    group = await get(store=store, group_id=group_id)
    if group.get("required"):
        raise Conflict(f"the group {group['name']!r} is required: its announcements cannot be muted",
                       code="group_required")
    now = utcnow()
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as stored (milliseconds): the same answer twice
    doc = {"_id": mute_id(group_id, user_id), "group_id": group_id, "user_id": user_id, "muted_at": now}

    async def work(tx: UnitOfWork) -> dict:
        existing = await tx.db[c.GROUP_MUTES].find_one({"_id": doc["_id"]}, session=tx.session)
        if existing is not None:
            return existing
        await tx.db[c.GROUP_MUTES].insert_one(doc, session=tx.session)
        return doc

    try:
        mute_doc = await store.transactions.run(work)
    except DuplicateKeyError:  # a concurrent mute of the same group by the same member
        mute_doc = await store[c.GROUP_MUTES].find_one({"_id": doc["_id"]}) or doc
    return {**mute_doc, "group_name": group["name"]}


async def unmute(*, store: Store, group_id: str, user_id: str) -> None:
    async def work(tx: UnitOfWork) -> int:
        return (await tx.db[c.GROUP_MUTES].delete_one({"_id": mute_id(group_id, user_id)},
                                                        session=tx.session)).deleted_count

    if not await store.transactions.run(work):
        raise NotFound(f"you have not muted the group {group_id}", code="not_muted")


async def my_mutes(*, store: Store, user_id: str) -> list[dict]:
    mutes = await store[c.GROUP_MUTES].find({"user_id": user_id}).sort("muted_at", 1).to_list()
    names = {g["_id"]: g["name"] for g in await store[c.GROUPS].find(
        {"_id": {"$in": [m["group_id"] for m in mutes]}}, {"name": 1}).to_list()}
    return [{**m, "group_name": names[m["group_id"]]} for m in mutes if m["group_id"] in names]


async def _definition(store: Store, filter: dict[str, Any] | None, members: list[str] | None) -> dict[str, Any]:
    """What a group's members are, checked: {"kind", "filter", "members", "member_ids"}."""
    if members is not None:
        ids = list(dict.fromkeys(members))
        if not ids:
            raise InvalidInput("an explicit group needs at least one member", code="invalid_input")
        if len(ids) > MAX_EXPLICIT_MEMBERS:
            raise InvalidInput(f"at most {MAX_EXPLICIT_MEMBERS} explicit members; use a filter or a SIG for more",
                               code="invalid_input")
        found = {d["_id"] for d in await store[c.USERS].find(
            {"_id": {"$in": ids}, "status": {"$ne": "deleted"}}, {"_id": 1}).to_list()}
        unknown = [i for i in ids if i not in found]
        if unknown:
            raise InvalidInput(f"{len(unknown)} of the members are not (or no longer) members of the community",
                               code="unknown_members", details={"user_ids": unknown[:50]})
        return {"kind": "members", "filter": None, "members": ids, "member_ids": len(ids)}
    flt = {k: v for k, v in (filter or {}).items() if k in FILTER_FIELDS and v is not None}
    if flt.get("sig_id") and await store[c.SIGS].find_one({"_id": flt["sig_id"]}, {"_id": 1}) is None:
        raise InvalidInput(f"SIG {flt['sig_id']} not found", code="unknown_sig", details={"sig_id": flt["sig_id"]})
    return {"kind": "filter", "filter": flt, "members": None, "member_ids": None}
