"""A member's own inbox (announcements from the groups they are in) and the groups they muted."""

from typing import Annotated

from agora_common.auth import CurrentUser
from agora_common.openapi import errors
from agora_common.pagination import Page
from fastapi import APIRouter, Query, Response, status

from agora_users.api.deps import StoreDep
from agora_users.api.group_schemas import InboxCount, InboxItemRead, MutedGroup, inbox_item
from agora_users.service import announcements, groups

router = APIRouter(prefix="/me", tags=["inbox"])


@router.get("/inbox", response_model=Page[InboxItemRead], responses=errors(401, 422),
            summary="My inbox, newest first: ?unread=true for unread items only, false for read ones")
async def my_inbox(user: CurrentUser, store: StoreDep, unread: bool | None = None,
                   limit: Annotated[int, Query(ge=1, le=200)] = 50,
                   cursor: Annotated[str | None, Query(max_length=500)] = None) -> Page[InboxItemRead]:
    rows, next_cursor = await announcements.inbox(store=store, user_id=user.id, unread=unread, limit=limit,
                                                  cursor=cursor)
    return Page[InboxItemRead](items=[inbox_item(r) for r in rows], next_cursor=next_cursor)


@router.get("/inbox/count", response_model=InboxCount, responses=errors(401), summary="How many unread items I have")
async def my_unread_count(user: CurrentUser, store: StoreDep) -> InboxCount:
    return InboxCount(unread=await announcements.unread_count(store=store, user_id=user.id))


@router.post("/inbox/{item_id}/read", response_model=InboxItemRead, responses=errors(401, 404),
             summary="Mark one of my inbox items read (idempotent)")
async def mark_read(item_id: str, user: CurrentUser, store: StoreDep) -> InboxItemRead:
    return inbox_item(await announcements.mark_read(store=store, user_id=user.id, item_id=item_id))


@router.get("/muted-groups", response_model=list[MutedGroup], responses=errors(401),
            summary="The groups I muted")
async def my_muted_groups(user: CurrentUser, store: StoreDep) -> list[MutedGroup]:
    return [MutedGroup(**m) for m in await groups.my_mutes(store=store, user_id=user.id)]


@router.post("/muted-groups/{group_id}", response_model=MutedGroup, responses=errors(401, 404, 409),
             summary="Mute a group: its announcements no longer reach my inbox (409 group_required for a required "
                     "group; idempotent)")
async def mute_group(group_id: str, user: CurrentUser, store: StoreDep) -> MutedGroup:
    return MutedGroup(**await groups.mute(store=store, group_id=group_id, user_id=user.id))


@router.delete("/muted-groups/{group_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(401, 404),
               summary="Unmute a group")
async def unmute_group(group_id: str, user: CurrentUser, store: StoreDep) -> Response:
    await groups.unmute(store=store, group_id=group_id, user_id=user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
