"""Use cases for writing posts: questions, answers, comments and articles; edits with revisions; delete/restore."""

from functools import partial
from typing import Any

from agora_common.auth import Principal
from agora_common.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound
from agora_common.events.content import (
    AcceptanceRevoked,
    AnswerEdited,
    AnswerPosted,
    ArticleEdited,
    ArticlePublished,
    ArticleUnpublished,
    CommentPosted,
    PostDeleted,
    PostRestored,
    QuestionAsked,
    QuestionEdited,
)
from agora_common.idempotency import create_once
from agora_common.ids import new_id
from agora_common.uow import UnitOfWork

from agora_content.adapters.store import Store, now
from agora_content.domain import invitations, rules
from agora_content.domain.events import envelope, post_ref
from agora_content.domain.markdown import render
from agora_content.service import expertise, qa_events
from agora_content.service.members import ensure_may_post


def _new_post(kind: str, user: Principal, *, body: str, **fields: Any) -> dict:
    at = now()
    return {
        "_id": new_id(),
        "type": kind,
        "author_id": user.id,
        "title": None,
        "body": body,
        "body_html": render(body),
        "tags": [],
        "sig_id": None,
        "question_id": None,
        "parent_id": None,
        "status": "published",
        "score": 0,
        "upvotes": 0,
        "downvotes": 0,
        "comment_count": 0,
        "open_flags": 0,
        "revision": 1,
        "version": 1,
        "deleted": False,
        "hidden": False,
        "created_at": at,
        "updated_at": at,
        "last_activity_at": at,
        **fields,
    }


async def _insert_with_revision(store: Store, work: UnitOfWork, post: dict) -> None:
    await store.posts.insert_one(post, session=work.session)
    await _record_revision(store, work, post, editor_id=post["author_id"])


async def _record_revision(store: Store, work: UnitOfWork, post: dict, *, editor_id: str | None) -> None:
    await store.revisions.insert_one(
        {
            "_id": f"{post['_id']}:{post['revision']}",
            "post_id": post["_id"],
            "revision": post["revision"],
            "title": post.get("title"),
            "body": post["body"],
            "tags": post.get("tags", []),
            "editor_id": editor_id,
            "edited_at": post["updated_at"],
        },
        session=work.session,
    )


async def load(store: Store, post_id: str, *, work: UnitOfWork | None = None, kind: str | None = None) -> dict | None:
    query: dict = {"_id": post_id}
    if kind:
        query["type"] = kind
    return await store.posts.find_one(query, session=work.session if work else None)


async def queue_keys(store: Store, *post_ids: str | None) -> list[str]:
    """What a change of these posts writes besides them, as keys for `Transactions.run(one_at_a_time=...)`: each
    post, its question (answer counts, acceptance), a question's accepted answer, and every answer's author (the
    expert counts). A read outside the unit, only to choose which units to queue behind: the unit re-reads and
    checks versions as always."""
    keys: set[str] = set()
    ids = {p for p in post_ids if p}
    fields = {"author_id": 1, "question_id": 1, "type": 1, "accepted_answer_id": 1}
    while ids:
        keys |= {f"post:{p}" for p in ids}
        found = await store.posts.find({"_id": {"$in": list(ids)}}, fields).to_list()
        for post in found:
            if post["type"] == "answer" and post.get("author_id"):
                keys.add(f"expert:{post['author_id']}")
        ids = {p for post in found for p in (post.get("question_id"), post.get("accepted_answer_id"))
               if p and f"post:{p}" not in keys}
    return sorted(keys)


async def _created(store: Store, post_id: str, replayed: bool, fresh: dict | None) -> tuple[dict, bool]:
    if not replayed and fresh is not None:
        return fresh, False
    post = await load(store, post_id)
    if post is None:  # the key pointed at something since purged
        raise NotFound("post not found")
    return post, replayed


async def ask_question(
    *, store: Store, user: Principal, title: str, body: str, tags: list[str], sig_id: str | None,
    idempotency_key: str | None, event_id: str | None = None,
) -> tuple[dict, bool]:
    await ensure_may_post(store=store, user=user)
    if event_id:  # asked in an online Q&A session: it must be published or live
        await qa_events.ensure_open_for_questions(store=store, event_id=event_id)
    tags = rules.normalize_tags(tags)
    if not tags:
        raise InvalidInput("a question needs at least one tag", code="tags_required")
    fresh: dict | None = None

    async def create(work: UnitOfWork) -> str:
        nonlocal fresh
        post = _new_post("question", user, title=title, body=body, tags=tags, sig_id=sig_id,
                         answer_count=0, accepted_answer_id=None, event_id=event_id)
        await _insert_with_revision(store, work, post)
        work.emit(envelope(
            QuestionAsked(**post_ref(post), title=title, body=body, created_at=post["created_at"], event_id=event_id),
            post, user.id,
        ))
        fresh = post
        return post["_id"]

    post_id, replayed = await create_once(
        db=store.db, run=store.transactions.run, user_id=user.id, scope="question", key=idempotency_key,
        payload={"title": title, "body": body, "tags": tags, "sig_id": sig_id, "event_id": event_id}, body=create,
    )
    return await _created(store, post_id, replayed, fresh)


async def post_answer(
    *, store: Store, user: Principal, question_id: str, body: str, idempotency_key: str | None
) -> tuple[dict, bool]:
    await ensure_may_post(store=store, user=user)
    fresh: dict | None = None

    async def create(work: UnitOfWork) -> str:
        nonlocal fresh
        question = rules.ensure_visible(await load(store, question_id, work=work, kind="question"), user, "question")
        rules.ensure_interactable(question)
        answer = _new_post("answer", user, body=body, tags=question["tags"], sig_id=question.get("sig_id"),
                           question_id=question["_id"], accepted=False)
        await _insert_with_revision(store, work, answer)
        await work.update_versioned(
            store.posts, question,
            {"$inc": {"answer_count": 1},
             "$set": {"last_activity_at": answer["created_at"], **invitations.answered(question, answer)}},
        )
        await expertise.recount(store, work, answer, question=question)
        work.emit(envelope(
            AnswerPosted(**post_ref(answer), body=body, question_author_id=question.get("author_id"),
                         created_at=answer["created_at"], event_id=question.get("event_id"),
                         during_event=await qa_events.is_live(store=store, event_id=question.get("event_id"))),
            answer, user.id,
        ))
        fresh = answer
        return answer["_id"]

    post_id, replayed = await create_once(
        db=store.db, user_id=user.id, scope=f"answer:{question_id}", key=idempotency_key, payload={"body": body},
        body=create, run=partial(store.transactions.run,
                                 one_at_a_time=[*await queue_keys(store, question_id), f"expert:{user.id}"]),
    )
    return await _created(store, post_id, replayed, fresh)


async def post_comment(
    *, store: Store, user: Principal, parent_id: str, body: str, idempotency_key: str | None
) -> tuple[dict, bool]:
    await ensure_may_post(store=store, user=user)
    fresh: dict | None = None

    async def create(work: UnitOfWork) -> str:
        nonlocal fresh
        parent = rules.ensure_visible(await load(store, parent_id, work=work), user)
        rules.ensure_interactable(parent)
        if parent["type"] == "comment":
            raise InvalidInput("comments cannot be replied to with comments; comment on the post", code="bad_parent")
        question_id = parent["_id"] if parent["type"] == "question" else parent.get("question_id")
        comment = _new_post("comment", user, body=body, tags=parent["tags"], sig_id=parent.get("sig_id"),
                            question_id=question_id, parent_id=parent["_id"], parent_type=parent["type"])
        await _insert_with_revision(store, work, comment)
        await work.update_versioned(
            store.posts, parent, {"$inc": {"comment_count": 1}, "$set": {"last_activity_at": comment["created_at"]}},
        )
        work.emit(envelope(
            CommentPosted(**post_ref(comment), body=body, parent_id=parent["_id"], created_at=comment["created_at"]),
            comment, user.id,
        ))
        fresh = comment
        return comment["_id"]

    post_id, replayed = await create_once(
        db=store.db, user_id=user.id, scope=f"comment:{parent_id}", key=idempotency_key, payload={"body": body},
        body=create, run=partial(store.transactions.run, one_at_a_time=[f"post:{parent_id}"]),
    )
    return await _created(store, post_id, replayed, fresh)


async def create_article(
    *, store: Store, user: Principal, title: str, body: str, tags: list[str], sig_id: str | None,
    idempotency_key: str | None,
) -> tuple[dict, bool]:
    """A draft: private to its author until published, so it publishes no event."""
    await ensure_may_post(store=store, user=user)
    tags = rules.normalize_tags(tags)
    fresh: dict | None = None

    async def create(work: UnitOfWork) -> str:
        nonlocal fresh
        article = _new_post("article", user, title=title, body=body, tags=tags, sig_id=sig_id, status="draft",
                            published_at=None)
        await _insert_with_revision(store, work, article)
        fresh = article
        return article["_id"]

    post_id, replayed = await create_once(
        db=store.db, run=store.transactions.run, user_id=user.id, scope="article", key=idempotency_key,
        payload={"title": title, "body": body, "tags": tags, "sig_id": sig_id}, body=create,
    )
    return await _created(store, post_id, replayed, fresh)


async def publish_article(*, store: Store, user: Principal, article_id: str) -> dict:
    await ensure_may_post(store=store, user=user)

    async def change(work: UnitOfWork) -> dict:
        article = rules.ensure_visible(await load(store, article_id, work=work, kind="article"), user, "article")
        if not rules.is_author(article, user):
            raise Forbidden("only the author can publish an article", code="not_author")
        if article["deleted"]:
            raise Gone("the article is deleted", code="post_deleted")
        if article["status"] == "published":
            return article
        at = now()
        fields = {"status": "published", "last_activity_at": at, "published_at": article.get("published_at") or at}
        article = await work.update_versioned(store.posts, article, {"$set": fields})
        work.emit(envelope(
            ArticlePublished(**post_ref(article), title=article["title"], body=article["body"],
                             published_at=article["published_at"]),
            article, user.id,
        ))
        return article

    return await store.transactions.run(change)


async def unpublish_article(*, store: Store, user: Principal, article_id: str) -> dict:
    async def change(work: UnitOfWork) -> dict:
        article = rules.ensure_visible(await load(store, article_id, work=work, kind="article"), user, "article")
        rules.ensure_can_edit(article, user)
        if article["status"] != "published":
            return article
        article = await work.update_versioned(store.posts, article, {"$set": {"status": "unpublished"}})
        work.emit(envelope(ArticleUnpublished(**post_ref(article)), article, user.id))
        return article

    return await store.transactions.run(change)


EDIT_EVENTS = {"question": QuestionEdited, "answer": AnswerEdited, "article": ArticleEdited}


async def edit_post(
    *, store: Store, user: Principal, post_id: str, kind: str, title: str | None = None, body: str | None = None,
    tags: list[str] | None = None, expected_version: int | None = None,
) -> dict:
    """Edit title/body/tags; keeps the previous text as a revision. An edit that changes nothing is a no-op."""
    await ensure_may_post(store=store, user=user)
    if tags is not None:
        tags = rules.normalize_tags(tags)
        if kind == "question" and not tags:
            raise InvalidInput("a question needs at least one tag", code="tags_required")

    async def change(work: UnitOfWork) -> dict:
        post = rules.ensure_visible(await load(store, post_id, work=work, kind=kind), user, kind)
        rules.ensure_can_edit(post, user)
        if expected_version is not None and post["version"] != expected_version:
            raise Conflict(
                f"the {kind} changed since you read it (version {post['version']}, you sent {expected_version})",
                code="version_mismatch",
            )
        fields: dict[str, Any] = {}
        if title is not None and title != post.get("title"):
            fields["title"] = title
        if body is not None and body != post["body"]:
            fields["body"] = body
            fields["body_html"] = render(body)
        if tags is not None and tags != post["tags"]:
            fields["tags"] = tags
        if not fields:
            return post
        at = now()
        fields.update(revision=post["revision"] + 1, updated_at=at, last_activity_at=at, last_editor_id=user.id)
        post = await work.update_versioned(store.posts, post, {"$set": fields})
        await _record_revision(store, work, post, editor_id=user.id)
        if "tags" in fields and kind != "answer":
            # answers and comments carry their question's (or article's) tags: events need no call back
            await store.posts.update_many(
                {"$or": [{"question_id": post["_id"]}, {"parent_id": post["_id"]}]}, {"$set": {"tags": tags}},
                session=work.session,
            )
            await expertise.after_change(store, work, post)  # its answers count under the new tags
        if kind != "article" or post["status"] == "published":
            event_cls = EDIT_EVENTS[kind]
            extra = {"title": post["title"]} if kind != "answer" else {}
            work.emit(envelope(
                event_cls(**post_ref(post), body=post["body"], editor_id=user.id, revision=post["revision"], **extra),
                post, user.id,
            ))
        return post

    return await store.transactions.run(change, one_at_a_time=await queue_keys(store, post_id))


async def delete_post(*, store: Store, user: Principal, post_id: str) -> dict:
    """Soft delete (restorable). Deleting the accepted answer withdraws the acceptance first."""

    async def change(work: UnitOfWork) -> dict:
        post = rules.ensure_visible(await load(store, post_id, work=work), user)
        rules.ensure_can_delete(post, user)
        if post["deleted"]:
            return post
        if post["type"] == "answer" and post.get("accepted"):
            question = await load(store, post["question_id"], work=work)
            if question is not None and question.get("accepted_answer_id") == post["_id"]:
                await work.update_versioned(store.posts, question, {"$set": {"accepted_answer_id": None}})
            post = await work.update_versioned(store.posts, post, {"$set": {"accepted": False}})
            asker = question.get("author_id") if question else None
            work.emit(envelope(AcceptanceRevoked(**post_ref(post), asker_id=asker), post, user.id))
        post = await work.update_versioned(
            store.posts, post, {"$set": {"deleted": True, "deleted_by": user.id, "deleted_at": now()}})
        await _count_in_parent(store, work, post, -1)
        await expertise.after_change(store, work, post)
        work.emit(envelope(PostDeleted(**post_ref(post), deleted_by=user.id), post, user.id))
        return post

    return await store.transactions.run(change, one_at_a_time=await queue_keys(store, post_id))


async def restore_post(*, store: Store, user: Principal, post_id: str) -> dict:
    async def change(work: UnitOfWork) -> dict:
        post = rules.ensure_visible(await load(store, post_id, work=work), user)
        if not post["deleted"]:
            return post
        rules.ensure_can_restore(post, user)
        post = await work.update_versioned(
            store.posts, post, {"$set": {"deleted": False, "deleted_by": None, "deleted_at": None}})
        await _count_in_parent(store, work, post, +1)
        await expertise.after_change(store, work, post)
        work.emit(envelope(PostRestored(**post_ref(post), restored_by=user.id), post, user.id))
        return post

    return await store.transactions.run(change, one_at_a_time=await queue_keys(store, post_id))


async def _count_in_parent(store: Store, work: UnitOfWork, post: dict, delta: int) -> None:
    counter = {"answer": ("question_id", "answer_count"), "comment": ("parent_id", "comment_count")}.get(post["type"])
    if counter is None:
        return
    parent_field, count_field = counter
    await store.posts.update_one(
        {"_id": post[parent_field]}, {"$inc": {count_field: delta, "version": 1}}, session=work.session
    )


async def revisions(*, store: Store, user: Principal | None, post_id: str) -> list[dict]:
    rules.ensure_visible(await load(store, post_id), user)
    return await store.revisions.find({"post_id": post_id}).sort("revision", 1).to_list()
