from agora_common.auth import CurrentUser, OptionalUser
from agora_common.idempotency import IdempotencyKey, replayed_header
from fastapi import APIRouter, Response, status

from agora_events.api.convert import with_id
from agora_events.api.deps import ERRORS, AppCtx
from agora_events.api.schemas import RankingRead, ScoreCreate, ScoreRead, SubmissionCreate, SubmissionRead
from agora_events.service import competitions

router = APIRouter(prefix="/{event_id}", tags=["competitions"], responses=ERRORS)


@router.post("/submissions", status_code=status.HTTP_201_CREATED, response_model=SubmissionRead,
             summary="Submit an entry (confirmed participants, one each)")
async def submit(event_id: str, body: SubmissionCreate, user: CurrentUser, ctx: AppCtx, response: Response,
                 idempotency_key: IdempotencyKey = None) -> dict:
    data = body.model_dump()
    data["url"] = str(data["url"]) if data.get("url") else None
    doc, replayed = await competitions.submit(ctx=ctx, event_id=event_id, submission=data, user=user,
                                              idempotency_key=idempotency_key)
    replayed_header(response, replayed)
    return with_id(doc)


@router.get("/submissions", response_model=list[SubmissionRead], summary="All entries with scores (judges, organisers)")
async def list_submissions(event_id: str, user: CurrentUser, ctx: AppCtx) -> list[dict]:
    return [with_id(s) for s in await competitions.list_submissions(ctx=ctx, event_id=event_id, user=user)]


@router.post("/scores", response_model=ScoreRead, summary="A judge scores an entry 0..100 (again = replace)")
async def score(event_id: str, body: ScoreCreate, user: CurrentUser, ctx: AppCtx) -> dict:
    return await competitions.score(ctx=ctx, event_id=event_id, submission_id=body.submission_id,
                                    value=body.score, comment=body.comment, user=user)


@router.post("/rank", response_model=RankingRead,
             summary="Final ranking by mean judge score once the competition ended (CompetitionRanked)")
async def rank(event_id: str, user: CurrentUser, ctx: AppCtx) -> dict:
    return await competitions.finalize_ranking(ctx=ctx, event_id=event_id, user=user)


@router.get("/ranking", response_model=RankingRead, summary="The final ranking")
async def ranking(event_id: str, user: OptionalUser, ctx: AppCtx) -> dict:
    return await competitions.get_ranking(ctx=ctx, event_id=event_id, user=user)
