"""Expert discovery: members ranked per tag and per SIG by accepted answers, answer score, median time to first
answer and recent activity, with their display names and titles, in one call.

Aggregates (`expertise`, one document per member and scope) are kept by the content service's own writes, in the
same unit of work as the answer, vote, acceptance, deletion or moderation that changes them (`recount`), so the
expert list of a tag is an index walk however many answers the tag has. Display names, titles and standing come
from the users topic (the `members` projection); SIG tags too (`sigs`). See domain/expertise.py for what counts.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from agora_common.errors import InvalidInput, NotFound
from agora_common.pagination import Order, after, decode_cursor, encode_cursor
from agora_common.standing import MEMBERS
from agora_common.uow import UnitOfWork
from pymongo import ReturnDocument

from agora_content.adapters.store import Store
from agora_content.domain import rules
from agora_content.domain.expertise import (
    Contribution,
    RowChange,
    apply_first,
    changes,
    contribution,
    first_answer_seconds,
    median,
    row_id,
    sig_scope,
    tag_scope,
)

BACKFILL_BATCH = 50  # answers recounted per transaction when a new SIG's past answers are counted

# sort name -> order; ties broken by _id (scope|user id, so by user id within a scope)
SORTS: dict[str, Order] = {
    "accepted": [("accepted_answers", -1), ("answer_score", -1), ("_id", 1)],
    "score": [("answer_score", -1), ("accepted_answers", -1), ("_id", 1)],
    "speed": [("median_first_answer_seconds", 1), ("first_answers", -1), ("_id", 1)],
    "recent": [("last_active_at", -1), ("_id", 1)],
}


# --- keeping the aggregates -----------------------------------------------------------------------------------

async def after_change(store: Store, work: UnitOfWork, post: dict) -> None:
    """Recount what `post` (as it is now, in this unit of work) contributes: an answer itself, a question all its
    answers (its deletion, moderation or tags change theirs)."""
    if post["type"] == "answer":
        await recount(store, work, post)
    elif post["type"] == "question":
        await recount_question(store, work, post)


async def recount_question(store: Store, work: UnitOfWork, question: dict) -> None:
    answers = await store.posts.find({"question_id": question["_id"], "type": "answer"},
                                     session=work.session).to_list()
    for answer in answers:
        await recount(store, work, answer, question=question)


async def recount(store: Store, work: UnitOfWork, answer: dict, *, question: dict | None = None) -> None:
    """Bring the aggregates in line with what `answer` contributes now; idempotent."""
    s = work.session
    if question is None:
        question = await store.posts.find_one({"_id": answer.get("question_id"), "type": "question"}, session=s)
    fields: dict[str, Any] = {}
    if "first_answer_seconds" not in answer:  # decided once, when the answer is posted (or first recounted)
        answer["first_answer_seconds"] = fields["first_answer_seconds"] = await _first_seconds(
            store, work, question, answer)
    tags = answer.get("tags", [])
    sig_ids = [d["_id"] for d in await store.sigs.find({"tags": {"$in": tags}}, {"_id": 1}, session=s).to_list()] \
        if tags else []
    new = contribution(answer, question, sig_ids)
    old = Contribution.from_doc(answer.get("expertise"))
    if new != old:
        answer["expertise"] = fields["expertise"] = new.as_doc() if new else None
    if fields:
        # bookkeeping, not a change of the post: its version (the one its events carry) stays; the write still
        # makes a concurrent recount of the same answer conflict and run again
        await store.posts.update_one({"_id": answer["_id"]}, {"$set": fields}, session=s)
    for (user_id, scope), change in changes(old, new).items():
        await _apply(store, work, user_id, scope, change)


async def _first_seconds(store: Store, work: UnitOfWork, question: dict | None, answer: dict) -> int | None:
    """Time to first answer if `answer` is its question's first answer by someone other than the asker."""
    if question is None:
        return None
    asker = question.get("author_id")
    if asker is not None and answer.get("author_id") == asker:
        return None
    query: dict = {"question_id": question["_id"], "type": "answer"}
    if asker is not None:
        query["author_id"] = {"$ne": asker}
    first = await store.posts.find(query, {"_id": 1}, session=work.session).sort("_id", 1).limit(1).to_list()
    if not first or first[0]["_id"] != answer["_id"]:
        return None
    return first_answer_seconds(question, answer)


async def _apply(store: Store, work: UnitOfWork, user_id: str, scope: str, change: RowChange) -> None:
    s = work.session
    _id = row_id(scope, user_id)
    update: dict[str, Any] = {
        "$inc": {"answers": change.answers, "accepted_answers": change.accepted, "answer_score": change.score},
        "$setOnInsert": {"scope": scope, "user_id": user_id},
    }
    if change.active_at is not None:
        update["$max"] = {"last_active_at": change.active_at}
    row = await store.expertise.find_one_and_update({"_id": _id}, update, upsert=True,
                                                    return_document=ReturnDocument.AFTER, session=s)
    if row["answers"] <= 0:  # nothing of theirs counts here any more
        await store.expertise.delete_one({"_id": _id}, session=s)
        return
    if change.first_removed or change.first_added or "first_answers" not in row:
        values = apply_first(row.get("first_seconds", []), change)
        await store.expertise.update_one({"_id": _id}, {"$set": {
            "first_seconds": values, "first_answers": len(values), "median_first_answer_seconds": median(values),
        }}, session=s)


async def count_past_answers_for_sig(store: Store, sig_id: str, tags: list[str]) -> int:
    """A SIG that content learns about now: count the answers posted before it (its tags' and its own).
    Idempotent (a replayed SigCreated recounts to the same totals)."""
    clauses: list[dict] = [{"sig_id": sig_id}]
    if tags:
        clauses.append({"tags": {"$in": tags}})
    return await recount_answers(store, {"type": "answer", "$or": clauses})


async def recount_answers(store: Store, query: dict, *, on_batch: Callable[[int], None] = lambda n: None) -> int:
    """Recount the answers matching `query`, by id, in batches of one transaction each; `on_batch(n)` after each.
    Idempotent: an answer already counted as it is now changes nothing. Also what an operator runs once over every
    answer (`agora-content recount-experts`) for answers posted before the aggregates existed."""
    last: str | None = None
    counted = 0
    while True:
        page = query if last is None else {"$and": [query, {"_id": {"$gt": last}}]}
        ids = [d["_id"] for d in await store.posts.find(page, {"_id": 1}).sort("_id", 1).limit(BACKFILL_BATCH)
               .to_list()]
        if not ids:
            return counted

        async def batch(work: UnitOfWork, ids: list[str] = ids) -> None:
            for answer in await store.posts.find({"_id": {"$in": ids}}, session=work.session).to_list():
                await recount(store, work, answer)

        await store.transactions.run(batch)
        counted += len(ids)
        last = ids[-1]
        on_batch(len(ids))


async def forget_member(store: Store, user_id: str) -> None:
    """A deleted account (its posts already anonymised): it leaves every expert list."""
    await store.expertise.delete_many({"user_id": user_id})


# --- reading -----------------------------------------------------------------------------------------------------

def _in_good_standing(member: dict | None, now: datetime) -> bool:
    if member is None:
        return True
    if member.get("deleted"):
        return False
    if member.get("suspended"):
        until = member.get("suspended_until")
        if until is not None and until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
        return until is not None and until <= now
    return True


async def resolve_scope(store: Store, *, tag: str | None, sig: str | None) -> str:
    if (tag is None) == (sig is None):
        raise InvalidInput("give exactly one of tag or sig", code="scope_required",
                           details={"tag": tag, "sig": sig})
    if tag is not None:
        return tag_scope(rules.normalize_tags([tag])[0])
    assert sig is not None
    if await store.sigs.find_one({"_id": sig}, {"_id": 1}) is None:
        raise NotFound(f"no SIG {sig} (or not known to content yet)", code="sig_not_found")
    return sig_scope(sig)


async def list_experts(
    *, store: Store, tag: str | None, sig: str | None, sort: str, limit: int, cursor: str | None,
) -> tuple[list[dict], str | None]:
    """One page of a tag's or SIG's experts, each row with the member's display name and titles, and the cursor of
    the next page. Suspended (until their suspension ends) and deleted members are left out."""
    scope = await resolve_scope(store, tag=tag, sig=sig)
    # the member's titles held for this list: for the tag ("tag:kubernetes"), or for one of the SIG's tags
    applicable = {scope} if sig is None else {tag_scope(t) for t in (await store.sigs.find_one(
        {"_id": sig}, {"tags": 1}) or {}).get("tags", [])}
    order = SORTS[sort]
    listing = f"experts:{scope}:{sort}"
    query: dict = {"scope": scope}
    if sort == "speed":
        query["median_first_answer_seconds"] = {"$gte": 0}  # only members who answered first at least once
    position = decode_cursor(cursor, listing, order) if cursor else None
    now = datetime.now(UTC)
    rows: list[dict] = []
    while len(rows) <= limit:  # one round unless some rows belong to suspended or deleted members
        wanted = limit + 1 - len(rows)
        page = query if position is None else {"$and": [query, after(order, position)]}
        batch = await store.expertise.find(page).sort(order).limit(wanted).to_list()
        if not batch:
            break
        members = {m["_id"]: m for m in await store.db[MEMBERS].find(
            {"_id": {"$in": [r["user_id"] for r in batch]}}, {"display_name": 1, "titles": 1, "scoped_titles": 1,
                                                              "deleted": 1, "suspended": 1,
                                                              "suspended_until": 1}).to_list()}
        for row in batch:
            member = members.get(row["user_id"])
            if _in_good_standing(member, now):
                known = member or {}  # {}: content has not heard of the member yet
                rows.append({**row, "display_name": known.get("display_name"),
                             "titles": sorted(known.get("titles", [])),
                             "expert_titles": sorted((t for t in known.get("scoped_titles", [])
                                                      if t.get("scope") in applicable),
                                                     key=lambda t: (t["scope"], t["title"]))})
        position = [batch[-1].get(f) for f, _ in order]
        if len(batch) < wanted:
            break
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(listing, order, rows[-1]) if more and rows else None
