from agora_common.auth import CurrentUser, Operator
from agora_common.idempotency import IdempotencyKey, replayed_header
from agora_common.pagination import Page
from fastapi import APIRouter, Response, status

from agora_events.api.convert import event_read, with_id
from agora_events.api.deps import ERRORS, AppCtx, Cursor, Limit
from agora_events.api.schemas import EventRead, SeriesCreate, SeriesRead, SeriesStats
from agora_events.service import series

router = APIRouter(prefix="/series", tags=["series"], responses=ERRORS)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SeriesRead,
             summary="Create a recurring series (e.g. a weekly live stream): one draft event per occurrence")
async def create_series(body: SeriesCreate, user: Operator, ctx: AppCtx, response: Response,
                        idempotency_key: IdempotencyKey = None) -> dict:
    doc, replayed = await series.create(ctx=ctx, spec=body.spec(), user=user, idempotency_key=idempotency_key)
    replayed_header(response, replayed)
    return with_id(doc)


@router.get("", response_model=Page[SeriesRead], summary="List series, newest first, a page at a time")
async def list_series(ctx: AppCtx, limit: Limit = 50, cursor: Cursor = None) -> dict:
    docs, next_cursor = await series.list_series(ctx=ctx, limit=limit, cursor=cursor)
    return {"items": [with_id(s) for s in docs], "next_cursor": next_cursor}


@router.get("/{series_id}.ics", response_class=Response, summary="iCalendar feed of a series",
            responses={200: {"content": {"text/calendar": {}}}})
async def series_ics(series_id: str, ctx: AppCtx) -> Response:
    body = await series.calendar(ctx=ctx, series_id=series_id)
    return Response(body, media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{series_id}.ics"'})


@router.get("/{series_id}", response_model=SeriesRead, summary="One series")
async def get_series(series_id: str, ctx: AppCtx) -> dict:
    return with_id(await series.get(ctx=ctx, series_id=series_id))


@router.post("/{series_id}/publish", response_model=list[EventRead], summary="Publish every draft occurrence")
async def publish_series(series_id: str, user: CurrentUser, ctx: AppCtx) -> list[dict]:
    return [event_read(d) for d in await series.publish_all(ctx=ctx, series_id=series_id, user=user)]


@router.get("/{series_id}/stats", response_model=SeriesStats,
            summary="Operators' view of a series: totals, attendance and no-show rates, and each occurrence")
async def series_stats(series_id: str, user: CurrentUser, ctx: AppCtx) -> dict:
    return await series.series_stats(ctx=ctx, series_id=series_id, user=user)
