"""Reads: single posts, listings with tag filters, sorts and keyset cursors."""

from agora_common.auth import Principal
from agora_common.pagination import Order, keyset_page

from agora_content.adapters.store import Store
from agora_content.domain import rules
from agora_content.service.posts import load

PUBLIC = {"deleted": False, "hidden": False}


async def get_post(*, store: Store, user: Principal | None, post_id: str, kind: str | None = None) -> dict:
    post = rules.ensure_visible(await load(store, post_id, kind=kind), user, kind or "post")
    if post["type"] == "answer" and post.get("question_id"):
        # an answer goes with its question: deleted or hidden with it (and its points are taken back with it)
        rules.ensure_visible(await load(store, post["question_id"]), user, "question")
    return post


# sort name -> order; ties broken by _id (UUIDv7, so creation order)
SORTS: dict[str, Order] = {
    "newest": [("_id", -1)],
    "votes": [("score", -1), ("_id", -1)],
    "active": [("last_activity_at", -1), ("_id", -1)],
    "unanswered": [("_id", -1)],
}


async def list_posts(
    *, store: Store, kind: str, tags: list[str], sort: str, cursor: str | None, limit: int,
    author_id: str | None = None, sig_id: str | None = None, status: str = "published", event_id: str | None = None,
) -> tuple[list[dict], str | None]:
    """One page of posts (newest, votes, active or unanswered) and the cursor of the next page (None at the end)."""
    query: dict = {"type": kind, **PUBLIC, "status": status}
    if tags:
        query["tags"] = {"$all": rules.normalize_tags(tags)}
    if author_id:
        query["author_id"] = author_id
    if sig_id:
        query["sig_id"] = sig_id
    if event_id:
        query["event_id"] = event_id
    if sort == "unanswered":
        query["answer_count"] = 0
    return await keyset_page(store.posts, query, listing=f"{kind}s:{sort}", order=SORTS[sort], limit=limit,
                             cursor=cursor)


async def answers_of(*, store: Store, user: Principal | None, question_id: str, limit: int = 200) -> list[dict]:
    """Accepted answer first, then by score, then oldest first."""
    await get_post(store=store, user=user, post_id=question_id, kind="question")
    return await (
        store.posts.find({"question_id": question_id, "type": "answer", **PUBLIC})
        .sort([("accepted", -1), ("score", -1), ("_id", 1)]).limit(limit).to_list()
    )


async def comments_of(*, store: Store, user: Principal | None, parent_id: str, limit: int = 200) -> list[dict]:
    await get_post(store=store, user=user, post_id=parent_id)
    return await (
        store.posts.find({"parent_id": parent_id, "type": "comment", **PUBLIC}).sort("_id", 1).limit(limit).to_list()
    )
