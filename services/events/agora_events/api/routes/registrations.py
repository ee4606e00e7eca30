import csv
import io
from typing import Literal

import segno
from agora_common.auth import CurrentUser
from agora_common.idempotency import IdempotencyKey, replayed_header
from agora_common.pagination import Page
from fastapi import APIRouter, Response, status

from agora_events.api.convert import registration_read
from agora_events.api.deps import ERRORS, AppCtx, Cursor, Limit
from agora_events.api.schemas import CheckinRequest, MyRegistrationRead, RegistrationRead
from agora_events.service import registrations
from agora_events.service.context import load_event

router = APIRouter(prefix="/{event_id}", tags=["registrations"], responses=ERRORS)
# registered before the /{event_id} routes, so "me" is not taken for an event id
mine_router = APIRouter(prefix="/me", tags=["registrations"], responses=ERRORS)


@mine_router.get("/registrations", response_model=Page[MyRegistrationRead],
                 summary="The current user's registrations (newest first), with their events")
async def list_mine(user: CurrentUser, ctx: AppCtx, limit: Limit = 50, cursor: Cursor = None,
                    include_cancelled: bool = False) -> dict:
    regs, next_cursor = await registrations.of_user(ctx=ctx, user=user, include_cancelled=include_cancelled,
                                                    limit=limit, cursor=cursor)
    return {"items": [{**r, "id": r["_id"]} for r in regs], "next_cursor": next_cursor}


@router.post("/registrations", status_code=status.HTTP_201_CREATED, response_model=RegistrationRead,
             summary="Register the current user: confirmed while places last, then waitlisted (FIFO)")
async def register(event_id: str, user: CurrentUser, ctx: AppCtx, response: Response,
                   idempotency_key: IdempotencyKey = None) -> dict:
    reg, replayed = await registrations.register(ctx=ctx, event_id=event_id, user=user,
                                                 idempotency_key=idempotency_key)
    replayed_header(response, replayed)
    return registration_read(reg, viewer=user)


@router.get("/registrations/me", response_model=RegistrationRead,
            summary="The current user's registration, waitlist position and check-in code")
async def get_mine(event_id: str, user: CurrentUser, ctx: AppCtx) -> dict:
    return registration_read(await registrations.mine(ctx=ctx, event_id=event_id, user=user), viewer=user)


@router.get("/registrations/me/qr.svg", response_class=Response, summary="The check-in code as a QR code (SVG)",
            responses={200: {"content": {"image/svg+xml": {}}}})
async def my_qr(event_id: str, user: CurrentUser, ctx: AppCtx) -> Response:
    reg = await registrations.mine(ctx=ctx, event_id=event_id, user=user)
    svg = segno.make(reg["checkin_code"], error="m").svg_inline(scale=8)
    return Response(svg, media_type="image/svg+xml")


@router.delete("/registrations/me", response_model=RegistrationRead,
               summary="Cancel the current user's registration; a freed place goes to the waitlist's first")
async def cancel_mine(event_id: str, user: CurrentUser, ctx: AppCtx) -> dict:
    return registration_read(await registrations.cancel_mine(ctx=ctx, event_id=event_id, user=user), viewer=user)


@router.delete("/registrations/{registration_id}", response_model=RegistrationRead,
               summary="Cancel a registration by id (its owner or an organiser)")
async def cancel_by_id(event_id: str, registration_id: str, user: CurrentUser, ctx: AppCtx) -> dict:
    reg = await registrations.cancel_by_id(ctx=ctx, event_id=event_id, registration_id=registration_id, user=user)
    return registration_read(reg, viewer=user)


@router.get("/registrations", response_model=Page[RegistrationRead],
            summary="Operators' view: registrations, optionally by status, a page at a time")
async def list_registrations(
    event_id: str, user: CurrentUser, ctx: AppCtx, limit: Limit = 100, cursor: Cursor = None,
    status: Literal["confirmed", "waitlisted", "cancelled"] | None = None,
) -> dict:
    regs, next_cursor = await registrations.list_registrations(ctx=ctx, event_id=event_id, user=user, status=status,
                                                               limit=limit, cursor=cursor)
    event = await load_event(ctx, event_id, user=user)
    return {"items": [registration_read(r, viewer=user, event=event) for r in regs], "next_cursor": next_cursor}


def _cell(text: str) -> str:
    """Names are user input: keep spreadsheets from running them as formulas."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@router.get("/registrations.csv", response_class=Response, summary="Operators' view as CSV (all registrations)",
            responses={200: {"content": {"text/csv": {}}}})
async def registrations_csv(event_id: str, user: CurrentUser, ctx: AppCtx) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    columns = ["registration_id", "user_id", "user_name", "status", "position", "created_at", "checked_in_at",
               "cancelled_at"]
    writer.writerow(columns)
    cursor = None
    while True:
        page, cursor = await registrations.list_registrations(ctx=ctx, event_id=event_id, user=user, status=None,
                                                              limit=500, cursor=cursor)
        for r in page:
            writer.writerow([r["_id"], _cell(r["user_id"]), _cell(r.get("user_name") or ""), r["status"],
                             r.get("position") or "",
                             *(r[k].isoformat() if r.get(k) else "" for k in columns[5:])])
        if cursor is None:
            break
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="registrations-{event_id}.csv"'})


@router.get("/waitlist", response_model=Page[RegistrationRead],
            summary="Operators' view: the waitlist in order, a page at a time")
async def waitlist(event_id: str, user: CurrentUser, ctx: AppCtx, limit: Limit = 100, cursor: Cursor = None) -> dict:
    return await list_registrations(event_id, user, ctx, limit, cursor, "waitlisted")


@router.post("/checkins", response_model=RegistrationRead,
             summary="Check an attendee in by the code of their registration (organisers, hosts, operators)")
async def check_in(event_id: str, body: CheckinRequest, user: CurrentUser, ctx: AppCtx) -> dict:
    reg = await registrations.check_in(ctx=ctx, event_id=event_id, code=body.code,
                                       registration_id=body.registration_id, user=user)
    return {**reg, "id": reg["_id"]}
