from typing import Annotated

from agora_common.auth import CurrentUser, Operator, OptionalUser
from agora_common.errors import InvalidInput
from agora_common.events.community import EventKind
from agora_common.idempotency import IdempotencyKey, replayed_header
from agora_common.pagination import Page
from agora_common.types import Instant
from fastapi import APIRouter, Query, Response, status

from agora_events.adapters import ical
from agora_events.api.convert import event_read
from agora_events.api.deps import ERRORS, AppCtx, Cursor, Limit
from agora_events.api.schemas import CancelRequest, EventCreate, EventRead, EventStats, EventUpdate, SpeakerInvite
from agora_events.domain.lifecycle import Action, Status
from agora_events.service import events, series
from agora_events.service.context import require_manager

router = APIRouter(tags=["events"], responses=ERRORS)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=EventRead,
             summary="Create an event (operators); it starts as a draft")
async def create_event(body: EventCreate, user: Operator, ctx: AppCtx, response: Response,
                       idempotency_key: IdempotencyKey = None) -> dict:
    doc, replayed = await events.create(ctx=ctx, fields=body.fields(), user=user, idempotency_key=idempotency_key)
    replayed_header(response, replayed)
    return event_read(doc)


@router.get("", response_model=Page[EventRead],
            summary="List events by start time (drafts only for their organisers), a page at a time")
async def list_events(
    ctx: AppCtx, user: OptionalUser, limit: Limit = 50, cursor: Cursor = None,
    kind: EventKind | None = None, status: Status | None = None, sig_id: str | None = None,
    series_id: str | None = None,
    industry: Annotated[str | None, Query(max_length=100, description="peer exchanges of one industry")] = None,
    city: Annotated[str | None, Query(max_length=100, description="meetups in one city (exact, any case)")] = None,
    online: Annotated[bool | None, Query(description="true: online only; false: in person only")] = None,
    starts_after: Instant | None = None,
    starts_before: Annotated[Instant | None, Query(description="with starts_after: a date range")] = None,
) -> dict:
    if starts_after and starts_before and starts_before <= starts_after:
        raise InvalidInput("starts_before must be after starts_after", code="invalid_range")
    docs, next_cursor = await events.list_events(
        ctx=ctx, user=user, kind=kind, status=status, sig_id=sig_id, series_id=series_id, industry=industry,
        city=city, online=online, starts_after=starts_after, starts_before=starts_before, limit=limit, cursor=cursor)
    return {"items": [event_read(d) for d in docs], "next_cursor": next_cursor}


@router.get("/{event_id}.ics", summary="iCalendar file of one event", response_class=Response,
            responses={200: {"content": {"text/calendar": {}}}})
async def event_ics(event_id: str, ctx: AppCtx, user: OptionalUser) -> Response:
    doc = await events.get(ctx=ctx, event_id=event_id, user=user)
    body = ical.calendar(doc["title"], [doc], ctx.settings.public_base_url)
    return Response(body, media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{event_id}.ics"'})


@router.get("/{event_id}", response_model=EventRead, summary="One event")
async def get_event(event_id: str, ctx: AppCtx, user: OptionalUser) -> dict:
    return event_read(await events.get(ctx=ctx, event_id=event_id, user=user))


@router.patch("/{event_id}", response_model=EventRead,
              summary="Edit an event that has not started; more capacity promotes from the waitlist")
async def update_event(event_id: str, body: EventUpdate, user: CurrentUser, ctx: AppCtx) -> dict:
    return event_read(await events.update(ctx=ctx, event_id=event_id, changes=body.fields(), user=user))


def _lifecycle_route(action: Action, summary: str):
    async def endpoint(event_id: str, user: CurrentUser, ctx: AppCtx) -> dict:
        return event_read(await events.apply_action(ctx=ctx, event_id=event_id, action=action, user=user))

    endpoint.__name__ = action.value.replace("-", "_") + "_event"
    router.post(f"/{{event_id}}/{action.value}", response_model=EventRead, summary=summary)(endpoint)


_lifecycle_route(Action.PUBLISH, "Publish a draft (EventPublished)")
_lifecycle_route(Action.OPEN_REGISTRATION, "Open registration (RegistrationOpened)")
_lifecycle_route(Action.CLOSE_REGISTRATION, "Close registration (RegistrationClosed)")
_lifecycle_route(Action.START, "The event goes live (EventStarted)")
_lifecycle_route(Action.END, "The event ends (EventEnded)")


@router.post("/{event_id}/cancel", response_model=EventRead, summary="Cancel the event (EventCancelled)")
async def cancel_event(event_id: str, user: CurrentUser, ctx: AppCtx, body: CancelRequest | None = None) -> dict:
    reason = body.reason if body else None
    return event_read(await events.apply_action(ctx=ctx, event_id=event_id, action=Action.CANCEL, user=user,
                                                reason=reason))


@router.post("/{event_id}/speakers", status_code=status.HTTP_201_CREATED, response_model=EventRead,
             summary="Invite a speaker (organisers)")
async def invite_speaker(event_id: str, body: SpeakerInvite, user: CurrentUser, ctx: AppCtx, response: Response,
                         idempotency_key: IdempotencyKey = None) -> dict:
    doc, replayed = await events.invite_speaker(ctx=ctx, event_id=event_id, speaker=body.model_dump(), user=user,
                                                idempotency_key=idempotency_key)
    replayed_header(response, replayed)
    return event_read(doc)


@router.post("/{event_id}/speakers/{speaker_id}/confirm", response_model=EventRead,
             summary="The invited speaker confirms (SpeakerConfirmed)")
async def confirm_speaker(event_id: str, speaker_id: str, user: CurrentUser, ctx: AppCtx) -> dict:
    return event_read(await events.confirm_speaker(ctx=ctx, event_id=event_id, speaker_id=speaker_id, user=user))


@router.get("/{event_id}/stats", response_model=EventStats,
            summary="Operators' view: registrations, waitlist, attendance and no-show rates")
async def event_stats(event_id: str, user: CurrentUser, ctx: AppCtx) -> dict:
    doc = await events.get(ctx=ctx, event_id=event_id, user=user)
    require_manager(doc, user)
    return series.event_stats(doc)
