"""Operators invite a member (typically one of a tag's experts) to answer a question: the question records the
invitation (its read model lists who was invited and whether they answered), and `AnswerInvited` tells the users
service, which puts it in the invitee's inbox. Who may be invited is decided on content's own members projection
(display names, suspensions, deletions from the users topic)."""

from datetime import UTC, datetime

from agora_common.auth import Principal
from agora_common.errors import NotFound
from agora_common.events.content import AnswerInvited
from agora_common.idempotency import create_once
from agora_common.ids import new_id
from agora_common.standing import MEMBERS, ensure_in_good_standing
from agora_common.uow import UnitOfWork

from agora_content.adapters.store import Store, now
from agora_content.domain import rules
from agora_content.domain.events import envelope, post_ref
from agora_content.domain.invitations import ensure_invitable


async def invite(
    *, store: Store, operator: Principal, question_id: str, user_id: str, note: str | None,
    idempotency_key: str | None,
) -> tuple[dict, dict, bool]:
    """Invite `user_id` to answer; returns (invitation, question, replayed)."""
    await ensure_in_good_standing(db=store.db, user=operator)  # as every write (service/members.py)

    async def create(work: UnitOfWork) -> str:
        question = rules.ensure_visible(await store.posts.find_one(
            {"_id": question_id, "type": "question"}, session=work.session), operator, "question")
        rules.ensure_interactable(question)
        member = await store.db[MEMBERS].find_one({"_id": user_id}, session=work.session)
        has_answered = await store.posts.find_one(
            {"question_id": question_id, "type": "answer", "author_id": user_id, "deleted": False, "hidden": False},
            {"_id": 1}, session=work.session) is not None
        ensure_invitable(question, member, user_id, now=datetime.now(UTC), has_answered=has_answered)
        invitation = {"id": new_id(), "user_id": user_id, "invited_by": operator.id, "note": note,
                      "invited_at": now(), "answered": False, "answer_id": None, "answered_at": None}
        question = await work.update_versioned(store.posts, question, {"$push": {"invited": invitation}})
        work.emit(envelope(
            AnswerInvited(**post_ref(question), invitation_id=invitation["id"], invitee_id=user_id,
                          invited_by=operator.id, title=question["title"], note=note,
                          invited_at=invitation["invited_at"]),
            question, operator.id,
        ))
        return invitation["id"]

    invitation_id, replayed = await create_once(
        db=store.db, run=store.transactions.run, user_id=operator.id, scope=f"invitation:{question_id}",
        key=idempotency_key, payload={"user_id": user_id, "note": note}, body=create,
    )
    question = await store.posts.find_one({"_id": question_id, "type": "question"})
    invitation = next((i for i in (question or {}).get("invited") or [] if i["id"] == invitation_id), None)
    if question is None or invitation is None:
        raise NotFound("question not found")
    return invitation, question, replayed


async def forget_invitee(store: Store, user_id: str) -> int:
    """A deleted account: its invitations stay on the questions without the link to it (like its posts). Not a change
    of the question (its version stays); a concurrent invitation (which checks the version) just pushes onto this."""
    changed = 0
    async for question in store.posts.find({"type": "question", "invited.user_id": user_id}, {"invited": 1,
                                                                                              "version": 1}):
        for _ in range(10):
            invited = [{**i, "user_id": None} if i["user_id"] == user_id else i for i in question["invited"]]
            result = await store.posts.update_one({"_id": question["_id"], "version": question["version"]},
                                                  {"$set": {"invited": invited}})
            if result.matched_count:
                changed += 1
                break
            question = await store.posts.find_one({"_id": question["_id"]}, {"invited": 1, "version": 1})
            if question is None:
                break
    return changed


async def names(store: Store, questions: list[dict]) -> dict[str, str | None]:
    """Display names of the members invited to `questions` (one lookup; none without invitations)."""
    ids = {i["user_id"] for q in questions for i in q.get("invited") or [] if i["user_id"]}
    if not ids:
        return {}
    return {m["_id"]: m.get("display_name") for m in await store.db[MEMBERS].find(
        {"_id": {"$in": sorted(ids)}}, {"display_name": 1}).to_list()}
