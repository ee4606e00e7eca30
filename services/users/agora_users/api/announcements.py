"""Announcements after they are sent: what operators read back, and members' replies (feedback)."""

from typing import Annotated

from agora_common.auth import Operator
from agora_common.idempotency import IdempotencyKey, replayed_header
from agora_common.ids import utcnow
from agora_common.openapi import errors
from agora_common.pagination import Page
from fastapi import APIRouter, Query, Response, status

from agora_users.api.deps import ActiveMember, StoreDep
from agora_users.api.exports import csv_download, csv_text
from agora_users.api.group_schemas import AnnouncementRead, ReplyCreate, ReplyRead, announcement_read, reply_read
from agora_users.service import announcements

router = APIRouter(prefix="/announcements", tags=["announcements"])

REPLY_CSV_COLUMNS = ["id", "announcement_id", "user_id", "display_name", "body", "created_at"]


@router.get("/{announcement_id}", response_model=AnnouncementRead, responses=errors(401, 403, 404),
            summary="One announcement with its delivery figures (operators)")
async def get_announcement(announcement_id: str, operator: Operator, store: StoreDep) -> AnnouncementRead:
    return announcement_read(await announcements.get(store=store, announcement_id=announcement_id))


@router.post("/{announcement_id}/replies", status_code=status.HTTP_201_CREATED, response_model=ReplyRead,
             responses=errors(401, 403, 404, 409, 422),
             summary="Reply to an announcement I received (feedback for the operators)")
async def reply(announcement_id: str, body: ReplyCreate, user: ActiveMember, store: StoreDep, response: Response,
                idempotency_key: IdempotencyKey = None) -> ReplyRead:
    doc, replayed = await announcements.reply(store=store, announcement_id=announcement_id, user_id=user.id,
                                              body=body.body, idempotency_key=idempotency_key)
    replayed_header(response, replayed)
    return reply_read(doc)


@router.get("/{announcement_id}/replies", response_model=Page[ReplyRead], responses=errors(401, 403, 404, 422),
            summary="Replies to an announcement in the order they came, a page at a time (operators)")
async def list_replies(announcement_id: str, operator: Operator, store: StoreDep,
                       limit: Annotated[int, Query(ge=1, le=500)] = 100,
                       cursor: Annotated[str | None, Query(max_length=500)] = None) -> Page[ReplyRead]:
    docs, next_cursor = await announcements.replies_page(store=store, announcement_id=announcement_id, limit=limit,
                                                         cursor=cursor)
    return Page[ReplyRead](items=[reply_read(d) for d in docs], next_cursor=next_cursor)


@router.get("/{announcement_id}/replies.csv", response_class=Response, responses={
    200: {"content": {"text/csv": {}}, "description": "every reply, one row each"}, **errors(401, 403, 404)},
    summary="Every reply to an announcement as a CSV download (operators)")
async def export_replies(announcement_id: str, operator: Operator, store: StoreDep) -> Response:
    rows = await announcements.all_replies(store=store, announcement_id=announcement_id)
    return csv_download(csv_text(REPLY_CSV_COLUMNS, [reply_read(r) for r in rows]),
                        f"announcement-{announcement_id}-replies-{utcnow():%Y%m%d}.csv")
