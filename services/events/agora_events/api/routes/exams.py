from agora_common.auth import CurrentUser
from agora_common.idempotency import IdempotencyKey, replayed_header
from fastapi import APIRouter, Response, status

from agora_events.api.deps import ERRORS, AppCtx
from agora_events.api.schemas import AttemptRead, AttemptResult, AttemptSubmit, ExamCreate, ExamRead
from agora_events.service import exams

router = APIRouter(prefix="/{event_id}/exam", tags=["exams"], responses=ERRORS)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ExamRead,
             summary="Set the exam of a training: question bank, pass mark, time limit (organisers)")
async def set_exam(event_id: str, body: ExamCreate, user: CurrentUser, ctx: AppCtx) -> dict:
    doc = await exams.set_exam(ctx=ctx, event_id=event_id, exam=body.document(), user=user)
    return {**doc, "event_id": event_id}


@router.get("", response_model=ExamRead, summary="The exam with its answers (organisers)")
async def get_exam(event_id: str, user: CurrentUser, ctx: AppCtx) -> dict:
    return {**await exams.get_exam(ctx=ctx, event_id=event_id, user=user), "event_id": event_id}


@router.post("/attempts", status_code=status.HTTP_201_CREATED, response_model=AttemptRead,
             summary="Start a timed attempt (confirmed attendees, once the training is live)")
async def start_attempt(event_id: str, user: CurrentUser, ctx: AppCtx, response: Response,
                        idempotency_key: IdempotencyKey = None) -> dict:
    attempt, replayed = await exams.start_attempt(ctx=ctx, event_id=event_id, user=user,
                                                  idempotency_key=idempotency_key)
    replayed_header(response, replayed)
    return {**attempt, "id": attempt["_id"]}


@router.post("/attempts/{attempt_id}/submit", response_model=AttemptResult,
             summary="Submit the answers before the deadline; graded at once, a pass issues a certificate")
async def submit_attempt(event_id: str, attempt_id: str, body: AttemptSubmit, user: CurrentUser,
                         ctx: AppCtx) -> dict:
    return await exams.submit_attempt(ctx=ctx, event_id=event_id, attempt_id=attempt_id, answers=body.answers,
                                      user=user)
