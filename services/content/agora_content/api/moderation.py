"""The moderators' queue: flagged and hidden posts; hide, unhide, dismiss flags."""

from typing import Annotated, Literal

from agora_common.auth import Moderator
from agora_common.pagination import Page
from fastapi import APIRouter, Depends, Query

from agora_content.api.deps import ERRORS, StoreDep, limit_body_size
from agora_content.api.schemas import FlagRead, HideRequest, PostRead, QueueItem
from agora_content.service import moderation

router = APIRouter(prefix="/moderation", tags=["moderation"], responses=ERRORS,
                   dependencies=[Depends(limit_body_size)])


@router.get("/queue", response_model=Page[QueueItem], summary="Flagged (or hidden) posts, newest first")
async def queue(
    moderator: Moderator,
    store: StoreDep,
    state: Literal["flagged", "hidden"] = "flagged",
    cursor: Annotated[str | None, Query(max_length=500, description="`next_cursor` of the page before")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Page[QueueItem]:
    posts, flags, next_cursor = await moderation.queue(store=store, state=state, cursor=cursor, limit=limit)
    items = [
        QueueItem(post=PostRead.from_doc(p),
                  flags=[FlagRead.model_validate(f) for f in flags if f["post_id"] == p["_id"]])
        for p in posts
    ]
    return Page[QueueItem](items=items, next_cursor=next_cursor)


@router.post("/posts/{post_id}/hide", response_model=PostRead, summary="Hide a post (closes its flags)")
async def hide(post_id: str, moderator: Moderator, store: StoreDep, body: HideRequest | None = None) -> PostRead:
    reason = body.reason if body else None
    return PostRead.from_doc(await moderation.hide_post(store=store, moderator=moderator, post_id=post_id,
                                                        reason=reason))


@router.post("/posts/{post_id}/unhide", response_model=PostRead, summary="Show a hidden post again")
async def unhide(post_id: str, moderator: Moderator, store: StoreDep) -> PostRead:
    return PostRead.from_doc(await moderation.unhide_post(store=store, moderator=moderator, post_id=post_id))


@router.post("/posts/{post_id}/dismiss-flags", response_model=PostRead, summary="Close the flags, keep the post")
async def dismiss(post_id: str, moderator: Moderator, store: StoreDep) -> PostRead:
    return PostRead.from_doc(await moderation.dismiss_flags(store=store, moderator=moderator, post_id=post_id))
