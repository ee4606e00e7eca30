"""Resources: links with metadata, e.g. the slides or recording of a community event."""

from typing import Annotated

from agora_common.auth import CurrentUser
from agora_common.idempotency import IdempotencyKey, replayed_header
from agora_common.pagination import Page
from fastapi import APIRouter, Depends, Query, Response

from agora_content.api.deps import ERRORS, StoreDep, limit_body_size
from agora_content.api.schemas import ResourceCreate, ResourceRead
from agora_content.service import resources

router = APIRouter(prefix="/resources", tags=["resources"], responses=ERRORS,
                   dependencies=[Depends(limit_body_size)])


@router.post("", status_code=201, response_model=ResourceRead, summary="Add a resource")
async def add(body: ResourceCreate, user: CurrentUser, store: StoreDep, response: Response,
              idempotency_key: IdempotencyKey = None) -> ResourceRead:
    doc, replayed = await resources.add_resource(
        store=store, user=user, url=str(body.url), title=body.title, kind=body.kind, description=body.description,
        tags=body.tags, event_id=body.event_id, idempotency_key=idempotency_key,
    )
    replayed_header(response, replayed)
    return ResourceRead.from_doc(doc)


@router.get("", response_model=Page[ResourceRead], summary="List resources, newest first")
async def list_resources(
    store: StoreDep,
    event_id: str | None = None,
    tag: str | None = None,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Page[ResourceRead]:
    docs = await resources.list_resources(store=store, event_id=event_id, tag=tag, after_id=cursor, limit=limit)
    return Page[ResourceRead](items=[ResourceRead.from_doc(d) for d in docs[:limit]],
                              next_cursor=docs[limit - 1]["_id"] if len(docs) > limit else None)


@router.get("/{resource_id}", response_model=ResourceRead, summary="Get a resource")
async def get(resource_id: str, store: StoreDep) -> ResourceRead:
    return ResourceRead.from_doc(await resources.get_resource(store=store, resource_id=resource_id))


@router.delete("/{resource_id}", status_code=204, summary="Remove a resource (its author or a moderator)")
async def remove(resource_id: str, user: CurrentUser, store: StoreDep) -> Response:
    await resources.remove_resource(store=store, user=user, resource_id=resource_id)
    return Response(status_code=204)
