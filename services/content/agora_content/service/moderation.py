"""Flags from members and the moderators' queue: hide (and later unhide) posts, or dismiss the flags."""

from agora_common.auth import Principal
from agora_common.errors import Conflict, Forbidden, Gone, NotFound
from agora_common.events.content import FlagsDismissed, PostFlagged, PostHidden, PostUnhidden
from agora_common.idempotency import create_once
from agora_common.pagination import keyset_page
from agora_common.uow import UnitOfWork

from agora_content.adapters.store import Store, now
from agora_content.domain import rules
from agora_content.domain.events import envelope, post_ref
from agora_content.service import expertise
from agora_content.service.members import ensure_may_post
from agora_content.service.posts import load


async def flag_post(
    *, store: Store, user: Principal, post_id: str, reason: str, idempotency_key: str | None = None
) -> tuple[dict, bool]:
    """One open flag per member per post; a post hidden or deleted cannot be flagged. With an Idempotency-Key, a
    retry answers with the flag the first request made instead of 409 `already_flagged`."""
    await ensure_may_post(store=store, user=user)
    fresh: dict | None = None

    async def change(work: UnitOfWork) -> str:
        nonlocal fresh
        post = rules.ensure_visible(await load(store, post_id, work=work), user)
        rules.ensure_interactable(post)
        if rules.is_author(post, user):
            raise Forbidden("you cannot flag your own post", code="own_post")
        flag_id = f"{post_id}:{user.id}"
        existing = await store.flags.find_one({"_id": flag_id}, session=work.session)
        if existing and existing["status"] == "open":
            raise Conflict("you have already flagged this post", code="already_flagged")
        flag = {"post_id": post_id, "flagger_id": user.id, "reason": reason, "status": "open", "created_at": now()}
        await store.flags.update_one({"_id": flag_id}, {"$set": flag}, upsert=True, session=work.session)
        post = await work.update_versioned(store.posts, post, {"$inc": {"open_flags": 1}})
        work.emit(rules_envelope(PostFlagged, post, user, flagger_id=user.id, reason=reason))
        fresh = flag | {"_id": flag_id}
        return flag_id

    flag_id, replayed = await create_once(
        db=store.db, run=store.transactions.run, user_id=user.id, scope=f"flag:{post_id}", key=idempotency_key,
        payload={"reason": reason}, body=change,
    )
    if fresh is not None and not replayed:
        return fresh, False
    flag = await store.flags.find_one({"_id": flag_id})  # as it stands now (a moderator may have closed it since)
    if flag is None:
        raise NotFound("flag not found")
    return flag, replayed


def rules_envelope(cls, post: dict, user: Principal, **fields):
    return envelope(cls(**post_ref(post), **fields), post, user.id)


async def _resolve_flags(store: Store, work: UnitOfWork, post_id: str, resolution: str, moderator: Principal) -> None:
    await store.flags.update_many(
        {"post_id": post_id, "status": "open"},
        {"$set": {"status": resolution, "resolved_by": moderator.id, "resolved_at": now()}},
        session=work.session,
    )


async def hide_post(*, store: Store, moderator: Principal, post_id: str, reason: str | None) -> dict:
    async def change(work: UnitOfWork) -> dict:
        post = rules.ensure_visible(await load(store, post_id, work=work), moderator)
        if post["deleted"]:
            raise Gone("the post is deleted", code="post_deleted")
        if post["hidden"]:
            return post
        await _resolve_flags(store, work, post_id, "hidden", moderator)
        post = await work.update_versioned(
            store.posts, post,
            {"$set": {"hidden": True, "hidden_by": moderator.id, "hidden_reason": reason, "hidden_at": now(),
                      "open_flags": 0}},
        )
        await expertise.after_change(store, work, post)  # hidden answers count for nobody
        work.emit(rules_envelope(PostHidden, post, moderator, moderator_id=moderator.id, reason=reason))
        return post

    return await store.transactions.run(change)


async def unhide_post(*, store: Store, moderator: Principal, post_id: str) -> dict:
    async def change(work: UnitOfWork) -> dict:
        post = rules.ensure_visible(await load(store, post_id, work=work), moderator)
        if not post["hidden"]:
            return post
        post = await work.update_versioned(
            store.posts, post, {"$set": {"hidden": False, "hidden_by": None, "hidden_reason": None}})
        await expertise.after_change(store, work, post)
        work.emit(rules_envelope(PostUnhidden, post, moderator, moderator_id=moderator.id))
        return post

    return await store.transactions.run(change)


async def dismiss_flags(*, store: Store, moderator: Principal, post_id: str) -> dict:
    """The flags were unfounded: close them and leave the post as it is."""

    async def change(work: UnitOfWork) -> dict:
        post = rules.ensure_visible(await load(store, post_id, work=work), moderator)
        await _resolve_flags(store, work, post_id, "dismissed", moderator)
        if open_flags := post.get("open_flags"):
            post = await work.update_versioned(store.posts, post, {"$set": {"open_flags": 0}})
            work.emit(rules_envelope(FlagsDismissed, post, moderator, moderator_id=moderator.id, dismissed=open_flags))
        return post

    return await store.transactions.run(change)


async def queue(*, store: Store, state: str, cursor: str | None, limit: int
                ) -> tuple[list[dict], list[dict], str | None]:
    """Flagged or hidden posts, newest first, with their flags, and the cursor of the next page."""
    if state == "hidden":
        query: dict = {"hidden": True}
    else:
        query = {"open_flags": {"$gt": 0}, "hidden": False, "deleted": False}
    posts, next_cursor = await keyset_page(store.posts, query, listing=f"moderation:{state}", order=[("_id", -1)],
                                           limit=limit, cursor=cursor)
    flags = await store.flags.find({"post_id": {"$in": [p["_id"] for p in posts]}}).to_list()
    return posts, flags, next_cursor
