"""User groups (operators): define who an announcement reaches, list who that is now, and announce to them."""

from typing import Annotated

from agora_common.auth import Operator
from agora_common.idempotency import IdempotencyKey, replayed_header
from agora_common.openapi import errors
from agora_common.pagination import Page
from fastapi import APIRouter, Query, Response, status

from agora_users.api.deps import StoreDep
from agora_users.api.group_schemas import (
    AnnouncementCreate,
    AnnouncementRead,
    GroupCreate,
    GroupDetail,
    GroupMember,
    GroupRead,
    GroupUpdate,
    announcement_read,
    group_member,
    group_read,
)
from agora_users.service import announcements, groups

router = APIRouter(prefix="/groups", tags=["groups"])

Limit = Annotated[int, Query(ge=1, le=500)]
Cursor = Annotated[str | None, Query(max_length=500)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=GroupRead, responses=errors(401, 403, 409, 422),
             summary="Define a user group (operators): a filter evaluated at send time, or a list of members")
async def create_group(body: GroupCreate, operator: Operator, store: StoreDep, response: Response,
                       idempotency_key: IdempotencyKey = None) -> GroupRead:
    group, replayed = await groups.create(
        store=store, name=body.name, description=body.description, required=body.required,
        filter=body.filter.model_dump(exclude_none=True) if body.filter is not None else None,
        members=body.members, operator_id=operator.id, idempotency_key=idempotency_key)
    replayed_header(response, replayed)
    return group_read(group)


@router.get("", response_model=Page[GroupRead], responses=errors(401, 403, 422),
            summary="User groups by name, a page at a time (operators)")
async def list_groups(operator: Operator, store: StoreDep, limit: Limit = 100, cursor: Cursor = None) -> Page[GroupRead]:
    docs, next_cursor = await groups.list_page(store=store, limit=limit, cursor=cursor)
    return Page[GroupRead](items=[group_read(d) for d in docs], next_cursor=next_cursor)


@router.get("/{group_id}", response_model=GroupDetail, responses=errors(401, 403, 404),
            summary="One user group, with how many members it resolves to now (operators)")
async def get_group(group_id: str, operator: Operator, store: StoreDep) -> GroupDetail:
    group = await groups.get(store=store, group_id=group_id)
    return GroupDetail(**group_read(group).model_dump(),
                       member_count=await groups.member_count(store=store, group=group))


@router.patch("/{group_id}", response_model=GroupRead, responses=errors(401, 403, 404, 409, 422),
              summary="Change a user group's name, description, required flag or definition (operators)")
async def update_group(group_id: str, body: GroupUpdate, operator: Operator, store: StoreDep) -> GroupRead:
    changes = body.model_dump(exclude_unset=True)
    if body.filter is not None:
        changes["filter"] = body.filter.model_dump(exclude_none=True)
    return group_read(await groups.update(store=store, group_id=group_id, changes=changes))


@router.delete("/{group_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(401, 403, 404),
               summary="Delete a user group (operators); its announcements, inbox items and replies stay")
async def delete_group(group_id: str, operator: Operator, store: StoreDep) -> Response:
    await groups.delete(store=store, group_id=group_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{group_id}/members", response_model=Page[GroupMember], responses=errors(401, 403, 404, 422),
            summary="The group's members now, in registration order, a page at a time (operators)")
async def group_members(group_id: str, operator: Operator, store: StoreDep, limit: Limit = 100,
                        cursor: Cursor = None) -> Page[GroupMember]:
    docs, next_cursor = await groups.members_page(store=store, group_id=group_id, limit=limit, cursor=cursor)
    return Page[GroupMember](items=[group_member(d) for d in docs], next_cursor=next_cursor)


@router.post("/{group_id}/announcements", status_code=status.HTTP_201_CREATED, response_model=AnnouncementRead,
             responses=errors(401, 403, 404, 409, 422),
             summary="Announce to a group (operators): an inbox item for every member who has not muted it "
                     "(published as AnnouncementDelivered batches, then AnnouncementSent)")
async def announce(group_id: str, body: AnnouncementCreate, operator: Operator, store: StoreDep, response: Response,
                   idempotency_key: IdempotencyKey = None) -> AnnouncementRead:
    doc, replayed = await announcements.send(store=store, group_id=group_id, operator_id=operator.id,
                                             title=body.title, body=body.body, link=body.link,
                                             idempotency_key=idempotency_key)
    replayed_header(response, replayed)
    return announcement_read(doc)


@router.get("/{group_id}/announcements", response_model=Page[AnnouncementRead], responses=errors(401, 403, 404, 422),
            summary="A group's announcements, newest first (operators)")
async def group_announcements(group_id: str, operator: Operator, store: StoreDep, limit: Limit = 50,
                              cursor: Cursor = None) -> Page[AnnouncementRead]:
    docs, next_cursor = await announcements.of_group(store=store, group_id=group_id, limit=limit, cursor=cursor)
    return Page[AnnouncementRead](items=[announcement_read(d) for d in docs], next_cursor=next_cursor)
