"""Votes (one per member per post, changeable, retractable) and accepted answers."""

from agora_common.auth import Principal
from agora_common.errors import Forbidden, Gone, InvalidInput, NotFound
from agora_common.events.content import AcceptanceRevoked, AnswerAccepted, PostVoted, VoteRetracted
from agora_common.uow import UnitOfWork, WriteConflict
from pymongo.errors import DuplicateKeyError

from agora_content.adapters.store import Store, now
from agora_content.domain import rules
from agora_content.domain.events import envelope, post_ref
from agora_content.service import expertise
from agora_content.service.members import ensure_may_post
from agora_content.service.posts import load, queue_keys

VOTABLE = ("question", "answer", "article")


def _vote_id(post_id: str, user_id: str) -> str:
    return f"{post_id}:{user_id}"


async def _votable(store: Store, work: UnitOfWork, post_id: str, user: Principal) -> dict:
    post = rules.ensure_visible(await load(store, post_id, work=work), user)
    if post["type"] not in VOTABLE:
        raise InvalidInput("only questions, answers and articles can be voted on", code="not_votable")
    rules.ensure_can_vote(post, user)
    return post


async def cast_vote(*, store: Store, user: Principal, post_id: str, value: int) -> tuple[dict, int]:
    """Returns (post, the caller's vote). Casting the vote one already has changes nothing."""
    if value not in (1, -1):
        raise InvalidInput("value must be 1 or -1", code="invalid_vote")
    await ensure_may_post(store=store, user=user)

    async def change(work: UnitOfWork) -> tuple[dict, int]:
        post = await _votable(store, work, post_id, user)
        vote_id = _vote_id(post_id, user.id)
        existing = await store.votes.find_one({"_id": vote_id}, session=work.session)
        previous = existing["value"] if existing else 0
        if previous == value:
            return post, value
        if existing:
            result = await store.votes.update_one(
                {"_id": vote_id, "value": previous}, {"$set": {"value": value, "updated_at": now()}},
                session=work.session,
            )
            if result.matched_count == 0:
                raise WriteConflict(vote_id)
        else:
            try:
                await store.votes.insert_one(
                    {"_id": vote_id, "post_id": post_id, "voter_id": user.id, "value": value, "created_at": now(),
                     "updated_at": now()},
                    session=work.session,
                )
            except DuplicateKeyError as exc:
                raise WriteConflict(vote_id) from exc  # the same member voting twice at once: re-read and decide
        delta = rules.vote_delta(previous, value)
        post = await work.update_versioned(
            store.posts, post, {"$inc": {"score": delta.score, "upvotes": delta.up, "downvotes": delta.down}})
        if post["type"] == "answer":
            await expertise.recount(store, work, post)
        work.emit(envelope(
            PostVoted(**post_ref(post), voter_id=user.id, value=value, previous_value=previous, score=post["score"]),
            post, user.id,
        ))
        return post, value

    return await store.transactions.run(change, one_at_a_time=await queue_keys(store, post_id))


async def retract_vote(*, store: Store, user: Principal, post_id: str) -> dict:
    async def change(work: UnitOfWork) -> dict:
        post = await _votable(store, work, post_id, user)
        vote_id = _vote_id(post_id, user.id)
        existing = await store.votes.find_one({"_id": vote_id}, session=work.session)
        if existing is None:
            return post
        previous = existing["value"]
        result = await store.votes.delete_one({"_id": vote_id, "value": previous}, session=work.session)
        if result.deleted_count == 0:
            raise WriteConflict(vote_id)
        delta = rules.vote_delta(previous, 0)
        post = await work.update_versioned(
            store.posts, post, {"$inc": {"score": delta.score, "upvotes": delta.up, "downvotes": delta.down}})
        if post["type"] == "answer":
            await expertise.recount(store, work, post)
        work.emit(envelope(
            VoteRetracted(**post_ref(post), voter_id=user.id, previous_value=previous, score=post["score"]),
            post, user.id,
        ))
        return post

    return await store.transactions.run(change, one_at_a_time=await queue_keys(store, post_id))


async def my_vote(*, store: Store, user: Principal, post_id: str) -> int:
    vote = await store.votes.find_one({"_id": _vote_id(post_id, user.id)})
    return vote["value"] if vote else 0


async def _own_question(store: Store, work: UnitOfWork, question_id: str, user: Principal) -> dict:
    question = rules.ensure_visible(await load(store, question_id, work=work, kind="question"), user, "question")
    if not rules.is_author(question, user):
        raise Forbidden("only the asker can accept an answer", code="not_asker")
    if question["deleted"]:
        raise Gone("the question is deleted", code="post_deleted")
    return question


async def accept_answer(*, store: Store, user: Principal, question_id: str, answer_id: str) -> dict:
    """Accept an answer; accepting another one moves the acceptance (revoking the old answer's)."""

    async def change(work: UnitOfWork) -> dict:
        question = await _own_question(store, work, question_id, user)
        answer = await load(store, answer_id, work=work, kind="answer")
        if answer is None or answer.get("question_id") != question_id:
            raise NotFound("no such answer to this question", code="answer_not_found")
        rules.ensure_interactable(answer)
        previous_id = question.get("accepted_answer_id")
        if previous_id == answer_id:
            return question
        question = await work.update_versioned(
            store.posts, question, {"$set": {"accepted_answer_id": answer_id, "last_activity_at": now()}})
        asker = question.get("author_id")
        if previous_id:
            old = await load(store, previous_id, work=work, kind="answer")
            if old is not None:
                old = await work.update_versioned(store.posts, old, {"$set": {"accepted": False}})
                await expertise.recount(store, work, old, question=question)
                work.emit(envelope(AcceptanceRevoked(**post_ref(old), asker_id=asker), old, user.id))
        answer = await work.update_versioned(store.posts, answer, {"$set": {"accepted": True}})
        await expertise.recount(store, work, answer, question=question)
        work.emit(envelope(
            AnswerAccepted(**post_ref(answer), asker_id=asker, previous_answer_id=previous_id), answer, user.id
        ))
        return question

    return await store.transactions.run(change, one_at_a_time=await queue_keys(store, question_id, answer_id))


async def revoke_acceptance(*, store: Store, user: Principal, question_id: str) -> dict:
    async def change(work: UnitOfWork) -> dict:
        question = await _own_question(store, work, question_id, user)
        previous_id = question.get("accepted_answer_id")
        if previous_id is None:
            return question
        question = await work.update_versioned(store.posts, question, {"$set": {"accepted_answer_id": None}})
        old = await load(store, previous_id, work=work, kind="answer")
        if old is not None:
            old = await work.update_versioned(store.posts, old, {"$set": {"accepted": False}})
            await expertise.recount(store, work, old, question=question)
            work.emit(envelope(AcceptanceRevoked(**post_ref(old), asker_id=question.get("author_id")), old, user.id))
        return question

    return await store.transactions.run(change, one_at_a_time=await queue_keys(store, question_id))
