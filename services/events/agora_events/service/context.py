"""What every use case needs, and the one way to change a community event: lock, transaction, outbox."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from agora_common import outbox
from agora_common.auth import Principal
from agora_common.errors import Forbidden, NotFound
from agora_common.events import Envelope
from agora_common.events.community import CommunityEvent
from agora_common.outbox import OutboxRelay
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from agora_events.adapters.mongo import EVENTS, EventLocks, in_transaction
from agora_events.config import Settings
from agora_events.domain.lifecycle import VISIBLE

T = TypeVar("T")


@dataclass
class Ctx:
    settings: Settings
    client: AsyncMongoClient
    db: AsyncDatabase
    topic: str
    signing_key: Ed25519PrivateKey
    relay: OutboxRelay | None = None
    locks: EventLocks = field(default_factory=EventLocks)


async def change_event(ctx: Ctx, event_id: str, work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
    """Run `work` as one transaction, queued behind other changes to the same event in this process."""
    result = await ctx.locks.run(event_id, lambda: in_transaction(ctx.client, work))
    if ctx.relay:
        ctx.relay.notify()
    return result


def ref(doc: dict) -> dict:
    """The fields every event of the contract carries, so consumers need no call back."""
    return {"event_id": doc["_id"], "kind": doc["kind"], "sig_id": doc.get("sig_id"), "tags": doc.get("tags", [])}


async def bump(
    ctx: Ctx, session: AsyncClientSession, filter: dict, update: dict, *, events: int
) -> dict | None:
    """Apply `update` to the event matching `filter` and raise its version by `events`; None if nothing matched."""
    update = {**update, "$inc": {**update.get("$inc", {}), "version": events}}
    return await ctx.db[EVENTS].find_one_and_update(
        filter, update, session=session, return_document=ReturnDocument.AFTER
    )


async def emit(
    ctx: Ctx, session: AsyncClientSession, doc: dict, payloads: list[CommunityEvent], actor: str | None
) -> None:
    """Append the payloads to the outbox with the versions `bump` reserved (the last one is doc["version"])."""
    first = doc["version"] - len(payloads) + 1
    envelopes = [
        Envelope.wrap(p, subject=doc["_id"], version=first + i, actor=actor) for i, p in enumerate(payloads)
    ]
    await outbox.append(ctx.db, session, ctx.topic, envelopes)


def is_manager(doc: dict, user: Principal | None) -> bool:
    """Operators, the organiser and the hosts manage an event."""
    if user is None:
        return False
    return user.has("operator") or user.id == doc.get("organizer_id") or user.id in doc.get("hosts", [])


def require_manager(doc: dict, user: Principal) -> None:
    if not is_manager(doc, user):
        raise Forbidden("only the organiser, the hosts or an operator can do this")


async def load_event(ctx: Ctx, event_id: str, *, user: Principal | None = None, session=None) -> dict:
    """The event, or 404; drafts exist only for those who manage them."""
    doc = await ctx.db[EVENTS].find_one({"_id": event_id}, session=session)
    if doc is None or (doc["status"] not in VISIBLE and not is_manager(doc, user)):
        raise NotFound(f"event {event_id} not found")
    return doc
