"""Questions, their answers, and accepted answers."""

from typing import Annotated, Literal

from agora_common.auth import CurrentUser, Operator, OptionalUser
from agora_common.idempotency import IdempotencyKey, replayed_header
from agora_common.openapi import errors
from agora_common.pagination import Page
from fastapi import APIRouter, Depends, Query, Response

from agora_content.adapters.store import Store
from agora_content.api.deps import ERRORS, IfMatch, StoreDep, limit_body_size
from agora_content.api.schemas import (
    AcceptRequest,
    AnswerCreate,
    AnswerRead,
    AnswerUpdate,
    InvitationCreate,
    InvitationRead,
    QuestionCreate,
    QuestionRead,
    QuestionUpdate,
)
from agora_content.service import invitations, posts, queries, votes

router = APIRouter(tags=["questions"], responses=ERRORS,
                   dependencies=[Depends(limit_body_size)])

Sort = Literal["newest", "votes", "active", "unanswered"]


async def _read(store: Store, doc: dict) -> QuestionRead:
    return QuestionRead.with_names(doc, await invitations.names(store, [doc]))


@router.post("/questions", status_code=201, response_model=QuestionRead, summary="Ask a question")
async def ask(body: QuestionCreate, user: CurrentUser, store: StoreDep, response: Response,
              idempotency_key: IdempotencyKey = None) -> QuestionRead:
    doc, replayed = await posts.ask_question(
        store=store, user=user, title=body.title, body=body.body, tags=body.tags, sig_id=body.sig_id,
        idempotency_key=idempotency_key, event_id=body.event_id,
    )
    replayed_header(response, replayed)
    return await _read(store, doc)


@router.get("/questions", response_model=Page[QuestionRead], summary="List questions")
async def list_questions(
    store: StoreDep,
    tag: Annotated[list[str], Query(description="only questions with all these tags", max_length=5)] = [],  # noqa: B006
    sort: Sort = "newest",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    author_id: str | None = None,
    sig_id: Annotated[str | None, Query(description="only posts of this SIG")] = None,
    event_id: Annotated[str | None, Query(description="only questions asked in this online Q&A session")] = None,
) -> Page[QuestionRead]:
    docs, next_cursor = await queries.list_posts(
        store=store, kind="question", tags=tag, sort=sort, cursor=cursor, limit=limit, author_id=author_id,
        sig_id=sig_id, event_id=event_id,
    )
    names = await invitations.names(store, docs)
    return Page[QuestionRead](items=[QuestionRead.with_names(d, names) for d in docs], next_cursor=next_cursor)


@router.get("/questions/{question_id}", response_model=QuestionRead, summary="Get a question")
async def get_question(question_id: str, store: StoreDep, user: OptionalUser) -> QuestionRead:
    return await _read(store, await queries.get_post(store=store, user=user, post_id=question_id, kind="question"))


@router.patch("/questions/{question_id}", response_model=QuestionRead, summary="Edit a question (keeps a revision)")
async def edit_question(question_id: str, body: QuestionUpdate, user: CurrentUser, store: StoreDep,
                        if_match: IfMatch = None) -> QuestionRead:
    doc = await posts.edit_post(store=store, user=user, post_id=question_id, kind="question", title=body.title,
                                body=body.body, tags=body.tags, expected_version=if_match)
    return await _read(store, doc)


@router.post("/questions/{question_id}/answers", status_code=201, response_model=AnswerRead, summary="Answer")
async def answer(question_id: str, body: AnswerCreate, user: CurrentUser, store: StoreDep, response: Response,
                 idempotency_key: IdempotencyKey = None) -> AnswerRead:
    doc, replayed = await posts.post_answer(
        store=store, user=user, question_id=question_id, body=body.body, idempotency_key=idempotency_key
    )
    replayed_header(response, replayed)
    return AnswerRead.from_doc(doc)


@router.get("/questions/{question_id}/answers", response_model=list[AnswerRead],
            summary="Answers to a question (accepted first, then by score)")
async def list_answers(question_id: str, store: StoreDep, user: OptionalUser) -> list[AnswerRead]:
    docs = await queries.answers_of(store=store, user=user, question_id=question_id)
    return [AnswerRead.from_doc(d) for d in docs]


@router.post("/questions/{question_id}/accept", response_model=QuestionRead,
             summary="Accept an answer (the asker only; accepting another moves the acceptance)")
async def accept(question_id: str, body: AcceptRequest, user: CurrentUser, store: StoreDep) -> QuestionRead:
    doc = await votes.accept_answer(store=store, user=user, question_id=question_id, answer_id=body.answer_id)
    return await _read(store, doc)


@router.delete("/questions/{question_id}/accept", response_model=QuestionRead, summary="Withdraw the acceptance")
async def revoke(question_id: str, user: CurrentUser, store: StoreDep) -> QuestionRead:
    return await _read(store, await votes.revoke_acceptance(store=store, user=user, question_id=question_id))


@router.get("/answers/{answer_id}", response_model=AnswerRead, summary="Get an answer")
async def get_answer(answer_id: str, store: StoreDep, user: OptionalUser) -> AnswerRead:
    return AnswerRead.from_doc(await queries.get_post(store=store, user=user, post_id=answer_id, kind="answer"))


@router.patch("/answers/{answer_id}", response_model=AnswerRead, summary="Edit an answer (keeps a revision)")
async def edit_answer(answer_id: str, body: AnswerUpdate, user: CurrentUser, store: StoreDep,
                      if_match: IfMatch = None) -> AnswerRead:
    doc = await posts.edit_post(store=store, user=user, post_id=answer_id, kind="answer", body=body.body,
                                expected_version=if_match)
    return AnswerRead.from_doc(doc)


@router.post("/questions/{question_id}/invitations", status_code=201, response_model=InvitationRead,
             responses=errors(e404="no such question, or a member content does not know (`member_not_found`)",
                              e409="the member is suspended (`member_suspended`) or deleted (`member_deleted`), "
                                   "already invited or already answered, or too many invitations",
                              e410="the question is deleted or hidden",
                              e422="the asker cannot be invited (`cannot_invite_asker`); invalid input"),
             summary="Invite a member to answer (operators): an item in their inbox; the question lists it")
async def invite(question_id: str, body: InvitationCreate, operator: Operator, store: StoreDep,
                 response: Response, idempotency_key: IdempotencyKey = None) -> InvitationRead:
    invitation, question, replayed = await invitations.invite(
        store=store, operator=operator, question_id=question_id, user_id=body.user_id, note=body.note,
        idempotency_key=idempotency_key)
    replayed_header(response, replayed)
    names = await invitations.names(store, [question])
    return InvitationRead.model_validate({**invitation, "question_id": question_id,
                                          "display_name": names.get(invitation["user_id"])})
