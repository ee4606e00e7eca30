"""Announcements to user groups, members' inboxes, and replies (feedback).

Sending resolves the group at that moment (one query on the members, read `announcement_batch_size` ids at a
time, by user id) and delivers batch by batch: each batch is one transaction that bulk-inserts the inbox rows,
moves the announcement's progress (the last user id done, counters) and emits one `AnnouncementDelivered` naming
the batch's members, for the mail and chat adapters. When the last batch is done, `AnnouncementSent` carries the
totals. A 10,000-member group is ten transactions and eleven events, not ten thousand.

A delivery that stops half-way (the process killed) leaves the announcement `delivering`; sending again with the
same Idempotency-Key resumes it after the last batch done (inbox rows are unique per announcement and member, so
nobody gets it twice).
"""

from typing import Any

from agora_common.errors import Forbidden, NotFound
from agora_common.events.users import AnnouncementDelivered, AnnouncementSent
from agora_common.idempotency import create_once
from agora_common.ids import new_id, utcnow
from agora_common.pagination import keyset_page
from agora_common.uow import UnitOfWork
from pymongo import ReturnDocument

from agora_users.adapters import store as c
from agora_users.adapters.store import Store
from agora_users.service import groups

DELIVERING, DELIVERED = "delivering", "delivered"


async def send(*, store: Store, group_id: str, operator_id: str, title: str, body: str, link: str | None,
               idempotency_key: str | None = None) -> tuple[dict, bool]:
    """Create the announcement and deliver it to the group's members (resuming an interrupted delivery when the
    request is a retry with the same Idempotency-Key). Returns (announcement, replayed)."""
    group = await groups.get(store=store, group_id=group_id)
    announcement = new_announcement(group=group, operator_id=operator_id, title=title, body=body, link=link)

    async def work(tx: UnitOfWork) -> str:
        await tx.db[c.ANNOUNCEMENTS].insert_one(announcement, session=tx.session)
        return announcement["_id"]

    announcement_id, replayed = await create_once(
        db=store.db, run=store.transactions.run, user_id=operator_id, scope=f"announcement:{group_id}",
        key=idempotency_key, payload={"title": title, "body": body, "link": link}, body=work)
    doc = await get(store=store, announcement_id=announcement_id)
    if doc["status"] == DELIVERING:
        doc = await deliver(store=store, announcement=doc, group=group)
    return doc, replayed


def new_announcement(*, group: dict, operator_id: str, title: str, body: str, link: str | None,
                     kind: str = "announcement", survey_id: str | None = None) -> dict:
    """An announcement ready to deliver. `kind` survey: the invitation to answer a survey (`survey_id`), sent
    through this same delivery path by `service.surveys` (its inbox items show as kind survey)."""
    now = utcnow()
    return {"_id": new_id(), "kind": kind, "survey_id": survey_id, "group_id": group["_id"],
            "group_name": group["name"], "title": title, "body": body, "link": link, "sent_by": operator_id,
            "sent_at": now, "status": DELIVERING, "required": bool(group.get("required")), "cursor": None,
            "recipients": 0, "muted": 0, "batches": 0, "created_at": now, "updated_at": now, "version": 1}


async def deliver(*, store: Store, announcement: dict, group: dict) -> dict:
    """Deliver from where the announcement's progress stands to the end; returns the delivered announcement."""
    query = await groups.members_query(store=store, group=group)
    if (last := announcement.get("cursor")) is not None:
        query = {"$and": [query, {"_id": {"$gt": last}}]}
    size = store.settings.announcement_batch_size
    # one query, read a batch at a time (memory stays bounded by the batch, whatever the group's size)
    members = store[c.USERS].find(query, {"_id": 1}).sort("_id", 1).batch_size(size)
    ids: list[str] = []
    try:
        async for doc in members:
            ids.append(doc["_id"])
            if len(ids) == size:
                await _deliver_batch(store, announcement["_id"], group, ids)
                ids = []
    finally:
        await members.close()
    if ids:
        await _deliver_batch(store, announcement["_id"], group, ids)
    return await _finish(store, announcement["_id"])


async def _deliver_batch(store: Store, announcement_id: str, group: dict, ids: list[str]) -> None:
    async def work(tx: UnitOfWork) -> None:
        ann = await tx.db[c.ANNOUNCEMENTS].find_one({"_id": announcement_id}, session=tx.session)
        if ann is None or ann["status"] != DELIVERING or (ann["cursor"] is not None and ann["cursor"] >= ids[-1]):
            return  # another request resuming the same delivery did this batch
        have = {r["user_id"] for r in await tx.db[c.INBOX].find(
            {"source_id": announcement_id, "user_id": {"$in": ids}}, {"user_id": 1}, session=tx.session).to_list()}
        muted = set() if ann["required"] else await groups.muted_among(
            store=store, group_id=group["_id"], user_ids=ids, session=tx.session)
        todo = [u for u in ids if u not in have and u not in muted]
        now = utcnow()
        if todo:
            await tx.db[c.INBOX].insert_many(
                [{"_id": new_id(), "user_id": u, "kind": "announcement", "source_id": announcement_id,
                  "group_id": group["_id"], "read": False, "read_at": None, "created_at": now} for u in todo],
                ordered=False, session=tx.session)
        ann = await tx.bump(c.ANNOUNCEMENTS, {"_id": announcement_id}, {
            "$set": {"cursor": ids[-1]},
            "$inc": {"recipients": len(todo), "muted": len(muted - have), "batches": 1 if todo else 0}},
            events=1 if todo else 0)
        if todo:
            tx.emit(AnnouncementDelivered(
                announcement_id=announcement_id, group_id=ann["group_id"], group_name=ann["group_name"],
                title=ann["title"], body=ann["body"], link=ann.get("link"), sent_by=ann["sent_by"],
                batch=ann["batches"], user_ids=todo), subject=announcement_id, version=ann["version"],
                actor=ann["sent_by"])

    await store.transactions.run(work)


async def _finish(store: Store, announcement_id: str) -> dict:
    async def work(tx: UnitOfWork) -> None:
        ann = await tx.bump(c.ANNOUNCEMENTS, {"_id": announcement_id, "status": DELIVERING},
                            {"$set": {"status": DELIVERED, "delivered_at": utcnow()}})
        if ann is None:
            return  # finished by a concurrent retry
        tx.emit(AnnouncementSent(
            announcement_id=announcement_id, group_id=ann["group_id"], group_name=ann["group_name"],
            title=ann["title"], link=ann.get("link"), sent_by=ann["sent_by"], recipients=ann["recipients"],
            muted=ann["muted"], batches=ann["batches"]), subject=announcement_id, version=ann["version"],
            actor=ann["sent_by"])

    await store.transactions.run(work)
    return await get(store=store, announcement_id=announcement_id)


async def get(*, store: Store, announcement_id: str) -> dict:
    doc = await store[c.ANNOUNCEMENTS].find_one({"_id": announcement_id})
    if doc is None:
        raise NotFound(f"announcement {announcement_id} not found")
    return doc


async def of_group(*, store: Store, group_id: str, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
    """A group's announcements, newest first."""
    await groups.get(store=store, group_id=group_id)
    return await keyset_page(store[c.ANNOUNCEMENTS], {"group_id": group_id}, listing="announcements",
                             order=[("_id", -1)], limit=limit, cursor=cursor)


# ---- the member's inbox ----

async def inbox(*, store: Store, user_id: str, unread: bool | None, limit: int,
                cursor: str | None) -> tuple[list[dict], str | None]:
    """The member's inbox items, newest first (only unread ones with unread=True, only read ones with False)."""
    # both values listed when neither is asked for: the (user_id, read, _id) index then yields newest first by
    # merging its two ranges, without sorting the member's whole inbox
    query: dict[str, Any] = {"user_id": user_id, "read": {"$in": [False, True]} if unread is None else not unread}
    rows, next_cursor = await keyset_page(store[c.INBOX], query, listing=f"inbox:{unread}", order=[("_id", -1)],
                                          limit=limit, cursor=cursor)
    return await _with_announcements(store, rows), next_cursor


async def unread_count(*, store: Store, user_id: str) -> int:
    return await store[c.INBOX].count_documents({"user_id": user_id, "read": False})


async def mark_read(*, store: Store, user_id: str, item_id: str) -> dict:
    """Idempotent: an item read before keeps its first read time. Another member's item is a 404."""

    async def work(tx: UnitOfWork) -> dict | None:
        row = await tx.db[c.INBOX].find_one_and_update(
            {"_id": item_id, "user_id": user_id, "read": False}, {"$set": {"read": True, "read_at": utcnow()}},
            return_document=ReturnDocument.AFTER, session=tx.session)
        return row or await tx.db[c.INBOX].find_one({"_id": item_id, "user_id": user_id}, session=tx.session)

    row = await store.transactions.run(work)
    if row is None:
        raise NotFound(f"inbox item {item_id} not found")
    return (await _with_announcements(store, [row]))[0]


async def _with_announcements(store: Store, rows: list[dict]) -> list[dict]:
    """Announcement rows are small (who, which announcement, read or not); the text is read from the announcement.
    Other kinds (an invitation to answer a question: service/invitations.py) carry their own text."""
    ids = list({r["source_id"] for r in rows if r.get("kind", "announcement") == "announcement"})
    anns = {a["_id"]: a for a in await store[c.ANNOUNCEMENTS].find({"_id": {"$in": ids}}).to_list()} if ids else {}
    return [r if r.get("kind", "announcement") != "announcement" else {**r, "announcement": anns[r["source_id"]]}
            for r in rows if r.get("kind", "announcement") != "announcement" or r["source_id"] in anns]


# ---- replies (feedback) ----

async def reply(*, store: Store, announcement_id: str, user_id: str, body: str,
                idempotency_key: str | None = None) -> tuple[dict, bool]:
    """A recipient's reply (403 `not_a_recipient` for anyone the announcement was not delivered to)."""
    ann = await get(store=store, announcement_id=announcement_id)
    doc = {"_id": new_id(), "announcement_id": announcement_id, "group_id": ann["group_id"], "user_id": user_id,
           "body": body, "created_at": utcnow()}

    async def work(tx: UnitOfWork) -> str:
        if await tx.db[c.INBOX].find_one({"source_id": announcement_id, "user_id": user_id}, {"_id": 1},
                                         session=tx.session) is None:
            raise Forbidden("only members the announcement was delivered to can reply", code="not_a_recipient")
        await tx.db[c.REPLIES].insert_one(doc, session=tx.session)
        return doc["_id"]

    reply_id, replayed = await create_once(
        db=store.db, run=store.transactions.run, user_id=user_id, scope=f"reply:{announcement_id}",
        key=idempotency_key, payload={"body": body}, body=work)
    if replayed:
        doc = await store[c.REPLIES].find_one({"_id": reply_id}) or doc
    return (await _with_names(store, [doc]))[0], replayed


async def replies_page(*, store: Store, announcement_id: str, limit: int,
                       cursor: str | None) -> tuple[list[dict], str | None]:
    """Replies in the order they came, with each author's display name now."""
    await get(store=store, announcement_id=announcement_id)
    rows, next_cursor = await keyset_page(store[c.REPLIES], {"announcement_id": announcement_id}, listing="replies",
                                          order=[("_id", 1)], limit=limit, cursor=cursor)
    return await _with_names(store, rows), next_cursor


async def all_replies(*, store: Store, announcement_id: str, chunk: int = 1000) -> list[dict]:
    """Every reply, for the CSV export (read a chunk at a time, names looked up per chunk)."""
    await get(store=store, announcement_id=announcement_id)
    out: list[dict] = []
    cursor = None
    while True:
        rows, cursor = await keyset_page(store[c.REPLIES], {"announcement_id": announcement_id},
                                         listing="replies", order=[("_id", 1)], limit=chunk, cursor=cursor)
        out.extend(await _with_names(store, rows))
        if cursor is None:
            return out


async def _with_names(store: Store, rows: list[dict]) -> list[dict]:
    ids = list({r["user_id"] for r in rows})
    names = {u["_id"]: u.get("display_name") for u in await store[c.USERS].find(
        {"_id": {"$in": ids}}, {"display_name": 1}).to_list()}
    return [{**r, "display_name": names.get(r["user_id"])} for r in rows]
