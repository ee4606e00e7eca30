"""Resources: links with metadata (slides, recordings, ...), optionally tied to a community event."""

from agora_common.auth import Principal
from agora_common.errors import NotFound
from agora_common.events import Envelope
from agora_common.events.content import ResourceAdded, ResourceRemoved
from agora_common.idempotency import create_once
from agora_common.ids import new_id
from agora_common.uow import UnitOfWork

from agora_content.adapters.store import Store, now
from agora_content.domain import rules
from agora_content.service.members import ensure_may_post


async def add_resource(
    *, store: Store, user: Principal, url: str, title: str, kind: str, description: str | None, tags: list[str],
    event_id: str | None, idempotency_key: str | None,
) -> tuple[dict, bool]:
    await ensure_may_post(store=store, user=user)
    tags = rules.normalize_tags(tags)
    fresh: dict | None = None

    async def create(work: UnitOfWork) -> str:
        nonlocal fresh
        at = now()
        doc = {"_id": new_id(), "url": url, "title": title, "kind": kind, "description": description, "tags": tags,
               "event_id": event_id, "author_id": user.id, "deleted": False, "version": 1, "created_at": at}
        await store.resources.insert_one(doc, session=work.session)
        event = ResourceAdded(resource_id=doc["_id"], url=url, title=title, kind=kind, author_id=user.id, tags=tags,
                              event_id=event_id)
        work.emit(Envelope.wrap(event, subject=doc["_id"], version=1, actor=user.id))
        fresh = doc
        return doc["_id"]

    resource_id, replayed = await create_once(
        db=store.db, run=store.transactions.run, user_id=user.id, scope="resource", key=idempotency_key,
        payload={"url": url, "title": title, "kind": kind, "description": description, "tags": tags,
                 "event_id": event_id},
        body=create,
    )
    if fresh is not None and not replayed:
        return fresh, False
    return await get_resource(store=store, resource_id=resource_id), replayed


async def get_resource(*, store: Store, resource_id: str) -> dict:
    doc = await store.resources.find_one({"_id": resource_id, "deleted": False})
    if doc is None:
        raise NotFound("resource not found")
    return doc


async def remove_resource(*, store: Store, user: Principal, resource_id: str) -> None:
    async def change(work: UnitOfWork) -> None:
        doc = await store.resources.find_one({"_id": resource_id, "deleted": False}, session=work.session)
        if doc is None:
            raise NotFound("resource not found")
        rules.ensure_can_delete(doc, user)
        doc = await work.update_versioned(store.resources, doc, {"$set": {"deleted": True, "deleted_by": user.id}})
        event = ResourceRemoved(resource_id=resource_id, removed_by=user.id, event_id=doc.get("event_id"))
        work.emit(Envelope.wrap(event, subject=resource_id, version=doc["version"], actor=user.id))

    await store.transactions.run(change)


async def list_resources(
    *, store: Store, event_id: str | None, tag: str | None, after_id: str | None, limit: int
) -> list[dict]:
    query: dict = {"deleted": False}
    if event_id:
        query["event_id"] = event_id
    if tag:
        query["tags"] = tag
    if after_id:
        query["_id"] = {"$lt": after_id}
    return await store.resources.find(query).sort("_id", -1).limit(limit + 1).to_list()
